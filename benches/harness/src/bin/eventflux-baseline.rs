//! Runs a hand-written baseline of `benches/apps/QUERY.eventflux`.
//!
//! ```text
//! eventflux-baseline QUERY --input F --bench [--repeat N]   throughput, as `eventflux bench`
//! eventflux-baseline QUERY --input F [--output F]           output events, as `eventflux run`
//! ```
//! QUERY: filter_projection, length_group_sum, time_batch_group, time_avg,
//! partition_length_sum, join_length, table_enrich, table_upsert, pattern_rise.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::process::ExitCode;

use eventflux_bench::baseline::{
    FilterProjection, JoinLength, LengthGroupSum, PartitionLengthSum, PatternRise, TableEnrich,
    TableUpsert, TimeAvg, TimeBatchGroup,
};
use eventflux_bench::harness::{self, Decoded};
use eventflux_bench::{CountingSink, JsonLinesSink, Query};

const USAGE: &str = "usage: eventflux-baseline QUERY --input F [--bench [--repeat N]] [--output F]
QUERY: filter_projection | length_group_sum | time_batch_group | time_avg |
       partition_length_sum | join_length | table_enrich | table_upsert | pattern_rise";

struct Args {
    query: String,
    input: String,
    output: String,
    bench: bool,
    repeat: u32,
}

fn main() -> ExitCode {
    match parse(std::env::args().skip(1).collect()).and_then(|a| dispatch(&a)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("eventflux-baseline: {message}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn parse(argv: Vec<String>) -> Result<Args, String> {
    let (query, flags) = argv.split_first().ok_or("missing QUERY")?;
    let mut args = Args {
        query: query.clone(),
        input: String::new(),
        output: "-".into(),
        bench: false,
        repeat: 10,
    };
    let mut it = flags.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--input" => args.input = value()?,
            "--output" => args.output = value()?,
            "--bench" => args.bench = true,
            "--repeat" => {
                let v = value()?;
                args.repeat = v.parse().map_err(|e| format!("--repeat {v}: {e}"))?;
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if args.input.is_empty() {
        return Err("missing --input F".into());
    }
    Ok(args)
}

fn dispatch(args: &Args) -> Result<(), String> {
    match args.query.as_str() {
        "filter_projection" => {
            go::<FilterProjection<CountingSink>, FilterProjection<JsonLinesSink>>(args)
        }
        "length_group_sum" => {
            go::<LengthGroupSum<CountingSink>, LengthGroupSum<JsonLinesSink>>(args)
        }
        "time_batch_group" => {
            go::<TimeBatchGroup<CountingSink>, TimeBatchGroup<JsonLinesSink>>(args)
        }
        "partition_length_sum" => {
            go::<PartitionLengthSum<CountingSink>, PartitionLengthSum<JsonLinesSink>>(args)
        }
        "time_avg" => go::<TimeAvg<CountingSink>, TimeAvg<JsonLinesSink>>(args),
        "join_length" => go::<JoinLength<CountingSink>, JoinLength<JsonLinesSink>>(args),
        "table_enrich" => go::<TableEnrich<CountingSink>, TableEnrich<JsonLinesSink>>(args),
        "table_upsert" => go::<TableUpsert<CountingSink>, TableUpsert<JsonLinesSink>>(args),
        "pattern_rise" => go::<PatternRise<CountingSink>, PatternRise<JsonLinesSink>>(args),
        other => Err(format!("unknown query {other}")),
    }
}

/// `B` measures, `P` prints.
fn go<B: Query<CountingSink>, P: Query<JsonLinesSink>>(args: &Args) -> Result<(), String> {
    let file = File::open(&args.input).map_err(|e| format!("cannot open {}: {e}", args.input))?;
    let events: Decoded = harness::decode(BufReader::with_capacity(1 << 20, file), B::INPUTS)?;
    let out: Box<dyn Write> = if args.output == "-" {
        Box::new(BufWriter::new(io::stdout()))
    } else {
        let f = File::create(&args.output)
            .map_err(|e| format!("cannot create {}: {e}", args.output))?;
        Box::new(BufWriter::new(f))
    };
    if args.bench {
        let stats = harness::replay::<B>(events, args.repeat);
        let mut out = out;
        writeln!(out, "{}", stats.to_json_line())
            .and_then(|()| out.flush())
            .map_err(|e| format!("cannot write output: {e}"))
    } else {
        let sink = harness::run::<JsonLinesSink, P>(events, JsonLinesSink::new(out));
        sink.finish()
            .map_err(|e| format!("cannot write output: {e}"))
    }
}
