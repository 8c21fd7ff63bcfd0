//! Measures the `Send` throughput of an app's gRPC service (BENCHMARKS.md):
//! `cargo run --release -p eventflux-runtime --features grpc --example grpc_send -- ADDR N
//! [CALLS]`. Asks the service's `Streams` for its first input stream, encodes N events of it
//! (numbers from the event's index, strings from six symbols) before the clock starts, then
//! sends them through CALLS concurrent `Send` calls (default 1) and prints the time until
//! every reply came: by then every event was checked and handed to the app's decoder thread
//! (at most 4 hand-overs of 4096 events wait there, behind the queries' bounded queue).

use eventflux_runtime::connect::grpc::RawCodec;
use eventflux_runtime::connect::protobuf::{
    decode_send_reply, decode_streams_reply, encode_event_line,
};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(addr), Some(n)) = (args.get(1), args.get(2)) else {
        return Err("usage: grpc_send ADDR N [CALLS]".into());
    };
    let n: usize = n.parse()?;
    let calls: usize = args.get(3).map_or(Ok(1), |c| c.parse())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
            .connect()
            .await?;
        let mut client = tonic::client::Grpc::new(channel);
        client.ready().await?;
        let reply = client
            .unary(
                tonic::Request::new(Vec::new()),
                tonic::codegen::http::uri::PathAndQuery::from_static("/eventflux.App/Streams"),
                RawCodec,
            )
            .await?;
        let streams = decode_streams_reply(reply.get_ref())?;
        let stream = streams.first().ok_or("the app has no input stream")?;
        let attrs: Vec<(&str, &str, bool)> = stream
            .attrs
            .iter()
            .map(|(a, t, null)| (a.as_str(), t.as_str(), *null))
            .collect();
        let symbols = ["IBM", "MSFT", "AAPL", "GOOG", "AMZN", "ORCL"];
        let mut per_call: Vec<Vec<Vec<u8>>> = vec![Vec::with_capacity(n / calls + 1); calls];
        for i in 0..n {
            let data: serde_json::Map<String, serde_json::Value> = attrs
                .iter()
                .map(|(a, t, _)| {
                    let v = match *t {
                        "STRING" => serde_json::json!(symbols[i % symbols.len()]),
                        "DOUBLE" | "FLOAT" => serde_json::json!((i % 1000) as f64 + 0.5),
                        "BOOL" => serde_json::json!(i % 2 == 0),
                        _ => serde_json::json!(i % 1000),
                    };
                    ((*a).to_string(), v)
                })
                .collect();
            let line = serde_json::json!({"ts": i, "data": data}).to_string();
            per_call[i % calls].push(encode_event_line(&attrs, 0, line.as_bytes())?);
        }
        let bytes: usize = per_call.iter().flatten().map(Vec::len).sum();
        let start = Instant::now();
        let mut tasks = Vec::new();
        for messages in per_call {
            let mut client = client.clone();
            tasks.push(tokio::spawn(async move {
                client.ready().await?;
                let reply = client
                    .client_streaming(
                        tonic::Request::new(tokio_stream::iter(messages)),
                        tonic::codegen::http::uri::PathAndQuery::from_static("/eventflux.App/Send"),
                        RawCodec,
                    )
                    .await?;
                Ok::<u64, Box<dyn std::error::Error + Send + Sync>>(decode_send_reply(
                    reply.get_ref(),
                )?)
            }));
        }
        let mut accepted = 0;
        for t in tasks {
            accepted += t.await?.map_err(|e| e.to_string())?;
        }
        let took = start.elapsed().as_secs_f64();
        println!(
            "{accepted} events ({bytes} bytes of messages, stream `{}`) in {took:.3} s: {:.2} M events/s",
            stream.name,
            accepted as f64 / took / 1e6
        );
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}
