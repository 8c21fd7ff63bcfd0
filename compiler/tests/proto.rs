//! `eventflux proto` (DESIGN 8.3): the printed `.proto` of a sample app (insta), and that a
//! stock code generator accepts it (`python3 -m grpc_tools.protoc`, skipped with a message
//! when grpcio-tools is not installed).

use std::process::Command;

const APP: &str = r#"@app:name('Order Desk')
CREATE STREAM Orders (id LONG NOT NULL, sym STRING, qty INT, price DOUBLE, rate FLOAT, live BOOL, at TIMESTAMP NOT NULL);
CREATE STREAM Event (message STRING);
CREATE STREAM "odd name" (x INT);
CREATE TABLE Stock (sym STRING PRIMARY KEY, qty INT);
INSERT INTO Big SELECT id, sym, qty * price AS notional FROM Orders WHERE qty > 10;
INSERT INTO Echo SELECT message FROM Event;
INSERT INTO Stock SELECT sym, qty FROM Orders;
"#;

#[test]
fn proto_of_a_sample_app() {
    let text = eventflux_compiler::proto(APP, "desk").expect("compiles");
    insta::assert_snapshot!(text);
}

#[test]
fn the_file_stem_names_an_app_without_app_name() {
    let text = eventflux_compiler::proto("CREATE STREAM S (x INT);", "my-app").expect("compiles");
    assert!(text.contains("package eventflux.my_app;"), "{text}");
    assert!(text.contains("service MyApp {"), "{text}");
    // No output streams: `Output` has no oneof (an empty one is not valid protobuf).
    assert!(!text.contains("oneof event {\n  }"), "{text}");
}

#[test]
fn protoc_accepts_the_proto() {
    let probe = Command::new("python3")
        .args(["-c", "import grpc_tools.protoc"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: python3 grpc_tools (grpcio-tools) is not installed");
        return;
    }
    let dir = std::env::temp_dir().join(format!("eventflux-proto-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let text = eventflux_compiler::proto(APP, "desk").expect("compiles");
    std::fs::write(dir.join("desk.proto"), text).expect("write proto");
    let out = Command::new("python3")
        .args(["-m", "grpc_tools.protoc", "-I."])
        .args(["--python_out=.", "--grpc_python_out=.", "desk.proto"])
        .current_dir(&dir)
        .output()
        .expect("run protoc");
    assert!(
        out.status.success(),
        "protoc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The generated stubs load and build an Event with the oneof set.
    let script = "import desk_pb2, desk_pb2_grpc\n\
        e = desk_pb2.Event(ts=5, orders=desk_pb2.Orders(id=1, sym='IBM', at=7))\n\
        assert e.WhichOneof('event') == 'orders'\n\
        assert not desk_pb2.Orders(id=1).HasField('sym')\n\
        assert hasattr(desk_pb2_grpc, 'OrderDeskStub')\n\
        o = desk_pb2.Output(ts=1, kind=desk_pb2.Output.EXPIRED, big=desk_pb2.Big(id=1))\n\
        assert o.WhichOneof('event') == 'big'\n";
    let out = Command::new("python3")
        .args(["-c", script])
        .current_dir(&dir)
        .output()
        .expect("run python");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "stubs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
