# TCP ingest (BENCHMARKS.md, "Connectors and the event path"): one client sends every line of
# IN to the app's tcp source (port 17101); a listener on 17102 takes the tcp sink's lines; the
# time from the first byte sent to the EXPECTED-th line received.
#   eventflux build benches/tcp/app.eventflux -o target/tcp-bench
#   python3 benches/tcp/ingest.py target/tcp-bench target/bench-data/ingest_2m.jsonl 1784240
import socket, sys, threading, time, subprocess
binary, inp, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(inp, 'rb').read()
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(('127.0.0.1', 17102)); ls.listen(1)
app = subprocess.Popen(['chrt', '-f', '10', binary, '--output', '/dev/null'], stderr=subprocess.DEVNULL)
done = {}
def sink():
    c, _ = ls.accept(); n = 0
    while n < expected:
        b = c.recv(1 << 20)
        if not b: break
        n += b.count(b'\n')
    done['t'] = time.time(); done['n'] = n
t = threading.Thread(target=sink); t.start()
while True:
    try:
        s = socket.create_connection(('127.0.0.1', 17101)); break
    except OSError:
        time.sleep(0.05)
start = time.time(); s.sendall(data); s.close()
t.join(); app.terminate(); app.wait()
cpu = open('/proc/loadavg').read().split()[0]
el = done['t'] - start
lines = data.count(b'\n')
print(f"{done['n']} lines in {el:.3f} s = {lines/el/1e6:.2f} M input events/s (load {cpu})")
