//! The `mqtt` connector (DESIGN 8.1): a QoS 1 subscription as a source and QoS 1 publishes
//! as a sink, both at-least-once.
//!
//! Source: subscribes `"mqtt.topic"` at `"mqtt.url"` with a persistent session (client id
//! `"mqtt.client.id"`, default `eventflux-<Stream>`) and manual acknowledgements: a message
//! is acknowledged (PUBACK) only once a checkpoint covers it (without checkpoints: once it
//! was processed). After a crash the broker redelivers what was not acknowledged, so nothing
//! is lost; what a checkpoint covered but was not yet acknowledged is delivered again.
//!
//! Sink: publishes each output line to `"mqtt.topic"` with QoS 1; a checkpoint waits until
//! every line before it was acknowledged by the broker; the client resends unacknowledged
//! publishes after a reconnection.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::Sender;
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

use super::sink::{LineSender, SinkStats, MAX_BACKOFF};
use super::source::{Batch, SourceEvent};
use super::tracked::{self, DeliveredSink, Participant, SourceCell};
use super::{ConnectError, ConnectorConfig};

/// The broker when `"mqtt.url"` is not given.
pub const DEFAULT_URL: &str = "mqtt://127.0.0.1:1883";

/// A user name and password.
type Credentials = (String, String);

/// `(host, port, credentials)` of an `mqtt://` or `tcp://` URL.
fn parse_url(url: &str) -> Option<(String, u16, Option<Credentials>)> {
    let rest = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))?;
    let rest = rest.trim_end_matches('/');
    let (creds, host_port) = match rest.rsplit_once('@') {
        Some((c, h)) => {
            let (user, pass) = c.split_once(':').unwrap_or((c, ""));
            (Some((user.to_string(), pass.to_string())), h)
        }
        None => (None, rest),
    };
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (host_port, 1883),
    };
    if host.is_empty() {
        return None;
    }
    Some((host.to_string(), port, creds))
}

fn options(cfg: &ConnectorConfig, client_id: &str) -> Result<MqttOptions, ConnectError> {
    let url = cfg.option("mqtt.url").unwrap_or(DEFAULT_URL);
    let (host, port, creds) =
        parse_url(url).ok_or_else(|| cfg.bad("mqtt.url", "is not an mqtt://host:port URL"))?;
    let mut opts = MqttOptions::new(client_id, host, port);
    opts.set_keep_alive(Duration::from_secs(15));
    if let Some((user, pass)) = creds {
        opts.set_credentials(user, pass);
    }
    Ok(opts)
}

/// Waits after a connection error (doubling up to [`MAX_BACKOFF`]); says so once.
fn backoff(pause: &mut Duration, warned: &mut bool, label: &str, err: &dyn std::fmt::Display) {
    if !*warned {
        eprintln!("eventflux: {label}: {err}; reconnecting");
        *warned = true;
    }
    std::thread::sleep(*pause);
    *pause = (*pause * 2).min(MAX_BACKOFF);
}

/// A running MQTT source; [`MqttSource::stop`] (or dropping it) ends it.
pub struct MqttSource {
    stop: Arc<AtomicBool>,
    client: Client,
    threads: Vec<std::thread::JoinHandle<()>>,
    cell: Arc<SourceCell>,
}

impl MqttSource {
    /// Subscribes for `cfg` (an `mqtt` source), sending each message as a batch on `tx`.
    pub fn start(
        cfg: &ConnectorConfig,
        tx: Sender<SourceEvent>,
    ) -> Result<MqttSource, ConnectError> {
        let topic = cfg.required("mqtt.topic")?.to_string();
        let client_id = cfg
            .option("mqtt.client.id")
            .map_or_else(|| format!("eventflux-{}", cfg.stream), str::to_string);
        let mut opts = options(cfg, &client_id)?;
        opts.set_clean_session(false).set_manual_acks(true);
        let (client, mut connection) = Client::new(opts, 1024);
        let (cell, restored) =
            tracked::register_source(&format!("mqtt:{}:{client_id}", cfg.stream));
        let stop = Arc::new(AtomicBool::new(false));
        let pending: Arc<Mutex<VecDeque<(u64, rumqttc::Publish)>>> = Arc::default();
        let label = format!("mqtt source `{}`", cfg.stream);
        let stream = cfg.stream.clone();
        let reader = {
            let (stop, pending, client) = (Arc::clone(&stop), Arc::clone(&pending), client.clone());
            let label = label.clone();
            std::thread::Builder::new()
                .name(format!("ef-mqtt-{stream}"))
                .spawn(move || {
                    let mut counter = restored.unwrap_or(0);
                    let mut pause = Duration::from_millis(100);
                    let mut warned = false;
                    for event in connection.iter() {
                        match event {
                            // Stopping: the acknowledgements queued before it are sent.
                            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => break,
                            // Stopping: what arrives now stays with the broker's session.
                            Ok(Event::Incoming(Packet::Publish(_)))
                                if stop.load(Ordering::Relaxed) => {}
                            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                                if warned {
                                    eprintln!("eventflux: {label}: connected");
                                }
                                pause = Duration::from_millis(100);
                                warned = false;
                                // The session keeps the subscription; renewing it is harmless.
                                let _ = client.try_subscribe(topic.clone(), QoS::AtLeastOnce);
                            }
                            Ok(Event::Incoming(Packet::Publish(p))) => {
                                counter += 1;
                                let text = String::from_utf8_lossy(&p.payload).into_owned();
                                let mut ack = p;
                                ack.payload = Default::default();
                                pending
                                    .lock()
                                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                                    .push_back((counter, ack));
                                let mut batch = Batch::new(&stream);
                                batch.push(&text, counter, 0);
                                if tx.send(SourceEvent::Batch(batch)).is_err() {
                                    break;
                                }
                            }
                            Ok(_) => {}
                            Err(e) => {
                                if stop.load(Ordering::Relaxed) {
                                    break;
                                }
                                backoff(&mut pause, &mut warned, &label, &e);
                            }
                        }
                    }
                    let _ = tx.send(SourceEvent::Closed { stream });
                })
                .map_err(|e| cfg.io("cannot start a source thread", e))?
        };
        let acker = {
            let (stop, cell, client) = (Arc::clone(&stop), Arc::clone(&cell), client.clone());
            std::thread::Builder::new()
                .name(format!("ef-mqtt-ack-{}", cfg.stream))
                .spawn(move || loop {
                    let committed = cell.committed();
                    let due: Vec<rumqttc::Publish> = {
                        let mut pending = pending
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        let mut due = Vec::new();
                        while pending.front().is_some_and(|(n, _)| *n <= committed) {
                            if let Some((_, p)) = pending.pop_front() {
                                due.push(p);
                            }
                        }
                        due
                    };
                    for p in &due {
                        let _ = client.ack(p);
                    }
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                })
                .map_err(|e| cfg.io("cannot start a source thread", e))?
        };
        Ok(MqttSource {
            stop,
            client,
            threads: vec![reader, acker],
            cell,
        })
    }

    /// The cell the driver records processed positions in.
    pub fn cell(&self) -> &Arc<SourceCell> {
        &self.cell
    }

    /// Stops after acknowledging what the last checkpoint covers (what was not
    /// acknowledged stays with the broker's session).
    pub fn stop(&mut self) {
        if self.stop.swap(true, Ordering::Relaxed) {
            return;
        }
        // The acknowledger's last round first, then the disconnection queued after it, so
        // the broker gets every acknowledgement before the session ends.
        let mut threads = self.threads.drain(..).collect::<Vec<_>>();
        if let Some(acker) = threads.pop() {
            let _ = acker.join();
        }
        let _ = self.client.disconnect();
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for MqttSource {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A QoS 1 MQTT sink.
pub struct MqttSink {
    tx: Option<Sender<Vec<u8>>>,
    stats: Arc<SinkStats>,
    shared: Arc<DeliveredSink>,
    client: Client,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl MqttSink {
    /// Connects (in the background, retrying) for `cfg`, an `mqtt` sink.
    pub fn start(cfg: &ConnectorConfig, queue: usize) -> Result<MqttSink, ConnectError> {
        let topic = cfg.required("mqtt.topic")?.to_string();
        let client_id = cfg
            .option("mqtt.client.id")
            .map_or_else(|| format!("eventflux-{}-out", cfg.stream), str::to_string);
        let mut opts = options(cfg, &client_id)?;
        opts.set_inflight(1000);
        let (client, mut connection) = Client::new(opts, 1024);
        let stats = Arc::new(SinkStats::default());
        let shared = Arc::new(DeliveredSink::new("mqtt", cfg.stream.clone()));
        tracked::register_sink(Arc::clone(&shared) as Arc<dyn Participant>);
        let label = format!("mqtt sink `{}`", cfg.stream);
        let poller = {
            let (shared, stats) = (Arc::clone(&shared), Arc::clone(&stats));
            let label = label.clone();
            std::thread::Builder::new()
                .name(format!("ef-mqtt-out-{}", cfg.stream))
                .spawn(move || {
                    let mut pause = Duration::from_millis(100);
                    let mut warned = false;
                    for event in connection.iter() {
                        match event {
                            Ok(Event::Incoming(Packet::PubAck(_))) => {
                                shared.done.fetch_add(1, Ordering::Release);
                                stats.sent.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                                if warned {
                                    eprintln!("eventflux: {label}: connected");
                                }
                                pause = Duration::from_millis(100);
                                warned = false;
                            }
                            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => break,
                            Ok(_) => {}
                            Err(e) => {
                                if shared.gone.load(Ordering::Relaxed) {
                                    break;
                                }
                                stats.errors.fetch_add(1, Ordering::Relaxed);
                                backoff(&mut pause, &mut warned, &label, &e);
                            }
                        }
                    }
                })
                .map_err(|e| cfg.io("cannot start a sink thread", e))?
        };
        let (tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(queue.max(1));
        let publisher = {
            let client = client.clone();
            std::thread::Builder::new()
                .name(format!("ef-mqtt-pub-{}", cfg.stream))
                .spawn(move || {
                    for bytes in &rx {
                        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                            if client
                                .publish(topic.clone(), QoS::AtLeastOnce, false, line.to_vec())
                                .is_err()
                            {
                                return;
                            }
                        }
                    }
                })
                .map_err(|e| cfg.io("cannot start a sink thread", e))?
        };
        Ok(MqttSink {
            tx: Some(tx),
            stats,
            shared,
            client,
            threads: vec![publisher, poller],
        })
    }
}

impl LineSender for MqttSink {
    fn send_lines(&self, _events: u64, bytes: Vec<u8>) -> bool {
        let Some(tx) = &self.tx else {
            return false;
        };
        let n = bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count() as u64;
        self.shared.handed.fetch_add(n, Ordering::Release);
        tx.send(bytes).is_ok()
    }

    fn stats(&self) -> &Arc<SinkStats> {
        &self.stats
    }
}

impl Drop for MqttSink {
    fn drop(&mut self) {
        // Publishes what was queued and waits (a little) for the acknowledgements.
        self.tx = None;
        let mut threads = self.threads.drain(..);
        if let Some(publisher) = threads.next() {
            let _ = publisher.join();
        }
        for _ in 0..500 {
            if self.shared.done.load(Ordering::Acquire)
                >= self.shared.handed.load(Ordering::Acquire)
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.shared.gone.store(true, Ordering::Release);
        let _ = self.client.try_disconnect();
        for t in threads {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("mqtt://127.0.0.1:1884"),
            Some(("127.0.0.1".into(), 1884, None))
        );
        assert_eq!(
            parse_url("tcp://u:p@broker"),
            Some(("broker".into(), 1883, Some(("u".into(), "p".into()))))
        );
        assert_eq!(parse_url("http://x"), None);
        assert_eq!(parse_url("mqtt://:1"), None);
    }
}
