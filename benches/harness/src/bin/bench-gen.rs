//! Writes deterministic benchmark inputs (see `BENCHMARKS.md`).
//!
//! ```text
//! bench-gen trades [--events N] [--keys K] [--per-ms P] [--null-every M] [--seed S]
//!                  [--key-order random|cycle] [--streams A,B] [--fill STREAM]
//!                  [--probe STREAM:N] -o FILE
//! bench-gen app --queries N [--salt S] -o FILE
//! ```
//! `--key-order cycle` gives event `i` key `i % K` (every key occurs; default: uniform),
//! `--streams` spreads the events over several streams (all with the schema of `Trades`),
//! `--fill` first sends one event per key to a stream, `--probe` finally sends N events with
//! keys spread over all keys (see `eventflux_bench::data::Layout`).
//! `-o -` (the default) writes to standard output.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use eventflux_bench::data::{many_query_app, write_input, Layout, TradesSpec};

const USAGE: &str = "usage: bench-gen trades [--events N] [--keys K] [--per-ms P] \
[--null-every M] [--seed S]\n                       [--key-order random|cycle] [--streams A,B] [--fill STREAM] [--probe STREAM:N] [-o FILE]\n       bench-gen app --queries N [--salt S] [-o FILE]";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bench-gen: {message}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let (what, flags) = args.split_first().ok_or("missing command")?;
    let mut spec = TradesSpec::default();
    let mut layout = Layout::default();
    let (mut queries, mut salt, mut output) = (None, 0u32, "-".to_owned());
    let mut it = flags.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = || {
            value
                .parse::<u64>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        let small = || u32::try_from(num()?).map_err(|e| format!("{flag} {value}: {e}"));
        match flag.as_str() {
            "--events" => spec.events = num()?,
            "--keys" => spec.keys = small()?,
            "--per-ms" => spec.per_ms = small()?,
            "--null-every" => spec.null_every = small()?,
            "--seed" => spec.seed = num()?,
            "--key-order" => {
                spec.cycle = match value.as_str() {
                    "cycle" => true,
                    "random" => false,
                    _ => return Err(format!("--key-order {value}: expected random or cycle")),
                }
            }
            "--queries" => queries = Some(small()?),
            "--salt" => salt = small()?,
            "--streams" => layout.streams = value.split(',').map(str::to_owned).collect(),
            "--fill" => layout.fill = Some(value.clone()),
            "--probe" => {
                let (stream, n) = value
                    .split_once(':')
                    .ok_or(format!("--probe {value}: expected STREAM:N"))?;
                let n = n.parse().map_err(|e| format!("--probe {value}: {e}"))?;
                layout.probe = Some((stream.to_owned(), n));
            }
            "-o" | "--output" => output = value.clone(),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    let mut out: BufWriter<Box<dyn Write>> = BufWriter::new(if output == "-" {
        Box::new(io::stdout())
    } else {
        Box::new(File::create(&output).map_err(|e| format!("cannot create {output}: {e}"))?)
    });
    let written = match what.as_str() {
        "trades" => write_input(&spec, &layout, &mut out),
        "app" => {
            let n = queries.ok_or("app needs --queries N")?;
            out.write_all(many_query_app(n, salt).as_bytes())
        }
        _ => return Err(format!("unknown command {what}")),
    };
    written
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write {output}: {e}"))
}
