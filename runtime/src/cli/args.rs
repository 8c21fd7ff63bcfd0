//! Command-line flags of compiled apps (std only: generated binaries stay small).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};

use super::{Clock, Failure};

/// The parsed flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Args {
    /// Input path, `-` for stdin.
    pub input: String,
    /// `--input` was given (otherwise the app's own sources, if any, are read).
    pub input_given: bool,
    /// Output path, `-` for stdout.
    pub output: String,
    pub clock: Clock,
    pub strict: bool,
    /// `--output-streams A,B`.
    pub output_streams: Option<Vec<String>>,
    pub bench: bool,
    /// Replays in bench mode.
    pub repeat: u32,
    /// `--state-dir DIR`: restore from and checkpoint into `DIR/state.snap`.
    pub state_dir: Option<String>,
    /// `--checkpoint-every DURATION` in ms (wall clock).
    pub checkpoint_every: Option<u64>,
    /// `--keep-checkpoints N` (default 3).
    pub keep_checkpoints: usize,
    /// `--full-every N`: a full checkpoint every N, incremental ones between (default 10).
    pub full_every: u32,
    /// `--restore-from ID`: start from this checkpoint instead of the newest.
    pub restore_from: Option<u64>,
    /// `--no-restore`: start empty whatever the store holds.
    pub no_restore: bool,
    /// `--list-checkpoints STORE`: print the checkpoints in a store and exit.
    pub list_checkpoints: Option<String>,
    /// `--metrics ADDR`: serve `/metrics` and `/health` there.
    pub metrics: Option<String>,
    /// `--metrics-token T`: the bearer token the metrics endpoint wants.
    pub metrics_token: Option<String>,
    /// `--grpc ADDR`: serve the app's gRPC service there (DESIGN 8.3).
    pub grpc: Option<String>,
    /// `--grpc-token T`: the bearer token the gRPC service wants.
    pub grpc_token: Option<String>,
    /// `--metrics-tls-cert FILE` and `--metrics-tls-key FILE`: serve `--metrics` over TLS.
    pub metrics_tls: (Option<String>, Option<String>),
    /// `--grpc-tls-cert FILE` and `--grpc-tls-key FILE`: serve `--grpc` over TLS.
    pub grpc_tls: (Option<String>, Option<String>),
    /// `--log-format json`.
    pub log_json: bool,
    /// `[streams.<Name>]` option overrides of `--config`.
    pub overrides: Vec<super::config::Override>,
    /// `--workers N`: worker threads per process (DESIGN 11; default 1).
    pub workers: usize,
    /// `--processes N`: processes running the app together (default 1).
    pub processes: usize,
    /// `--process I`: this process's index (0-based).
    pub process: usize,
    /// `--hosts FILE`: one `host:port` per process and line.
    pub hosts: Option<String>,
}

/// Parses `500ms`, `10s`, `5sec`, `2m`, `1h` or a plain number of milliseconds.
pub(super) fn parse_duration(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    let factor = match unit.trim() {
        "" | "ms" | "millis" | "milliseconds" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        _ => return None,
    };
    n.checked_mul(factor).filter(|&ms| ms > 0)
}

/// The usage text.
pub(super) fn usage(prog: &str) -> String {
    format!(
        "Usage: {prog} [OPTIONS]

Runs the compiled EventFlux app over JSON lines:
  input  {{\"stream\": \"S\", \"ts\": 1000, \"data\": {{...}}}}  or  {{\"ts\": 5000}}
  output {{\"stream\": \"Out\", \"ts\": 1000, \"kind\": \"current\", \"data\": {{...}}}}

Options:
  --input F|-            read events from file F or stdin (default: -)
  --output F|-           write output events to file F or stdout (default: -)
  --clock event|wall     time from the events' ts, or the arrival time (default: event)
  --strict               stop at the first bad input line (exit code 2)
  --output-streams A,B   print only these streams (default: every output stream)
  --bench                decode the input once, replay it, print throughput as JSON
  --repeat N             replays with --bench (default: 10)
  --workers N            run partitioned queries on N worker threads, each owning the
                         keys that hash to it (docs/scale-out.md; default: 1)
  --processes N          run the app across N processes (with --process and --hosts)
  --process I            this process's index, 0 to N-1
  --hosts FILE           one host:port per process and line
  --state-dir DIR|URL    keep checkpoints in directory DIR or redis://host:port/prefix;
                         resume from the newest at start, take one at the end and on
                         SIGTERM/SIGINT
  --checkpoint-every D   also take one every D of wall time (e.g. 10s, 500ms)
  --keep-checkpoints N   checkpoints to keep (default: 3)
  --full-every N         a full checkpoint every N, only changed state between (default: 10)
  --restore-from ID      resume from checkpoint ID instead of the newest
  --no-restore           start empty whatever the store holds
  --list-checkpoints S   print the checkpoints in store S (a directory or redis:// URL)
  --metrics ADDR         serve Prometheus metrics at http://ADDR/metrics and /health
                         (ADDR host:port, or :port for 127.0.0.1)
  --metrics-token T      require `Authorization: Bearer T` there (or set
                         EVENTFLUX_METRICS_TOKEN)
  --metrics-tls-cert FILE  serve --metrics over TLS (https) with this PEM certificate chain
  --metrics-tls-key FILE   and this PEM private key
  --grpc ADDR            serve the app's gRPC service (`eventflux proto`) at ADDR
                         (host:port, or :port for 127.0.0.1; needs `eventflux build --grpc`)
  --grpc-token T         require `authorization: Bearer T` metadata there (or set
                         EVENTFLUX_GRPC_TOKEN)
  --grpc-tls-cert FILE   serve --grpc over TLS with this PEM certificate chain
  --grpc-tls-key FILE    and this PEM private key
  --config FILE          settings file (TOML, or YAML if .yaml/.yml): flags as keys
                         (state-dir = \"st\"), [streams.<Name>] option overrides,
                         ${{VAR}} and ${{VAR:-default}}; the command line wins
  --log-format text|json messages on stderr as text (default) or JSON records
  -h, --help             print this help

Exit codes: 0 success, 1 runtime or I/O error, 2 bad usage or bad line with --strict.
"
    )
}

impl Args {
    /// Parses the arguments after the program name; `Ok(None)` for `--help`.
    pub fn parse<'a>(argv: impl IntoIterator<Item = &'a str>) -> Result<Option<Args>, String> {
        let Some((args, repeat_given)) = Self::parse_flags(argv)? else {
            return Ok(None);
        };
        if repeat_given && !args.bench {
            return Err("--repeat applies only with --bench".into());
        }
        args.check().map(|()| Some(args))
    }

    /// Parses each flag and its value without the checks between flags; also whether
    /// `--repeat` was given.
    pub fn parse_flags<'a>(
        argv: impl IntoIterator<Item = &'a str>,
    ) -> Result<Option<(Args, bool)>, String> {
        let mut args = Args {
            input: "-".into(),
            output: "-".into(),
            clock: Clock::Event,
            strict: false,
            output_streams: None,
            bench: false,
            repeat: 10,
            input_given: false,
            state_dir: None,
            checkpoint_every: None,
            keep_checkpoints: 3,
            full_every: 10,
            restore_from: None,
            no_restore: false,
            list_checkpoints: None,
            metrics: None,
            metrics_token: None,
            grpc: None,
            grpc_token: None,
            grpc_tls: (None, None),
            metrics_tls: (None, None),
            log_json: false,
            overrides: Vec::new(),
            workers: 1,
            processes: 1,
            process: 0,
            hosts: None,
        };
        let mut repeat_given = false;
        let mut argv = argv.into_iter();
        while let Some(arg) = argv.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => (flag, Some(value)),
                _ => (arg, None),
            };
            let mut value = || match inline {
                Some(v) => Ok(v.to_string()),
                None => argv
                    .next()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{flag} needs a value")),
            };
            match flag {
                "-h" | "--help" => return Ok(None),
                "--input" => {
                    args.input = value()?;
                    args.input_given = true;
                }
                "--output" => args.output = value()?,
                "--clock" => {
                    args.clock = match value()?.as_str() {
                        "event" => Clock::Event,
                        "wall" => Clock::Wall,
                        other => {
                            return Err(format!("--clock must be `event` or `wall`, not `{other}`"))
                        }
                    }
                }
                "--output-streams" => {
                    let names: Vec<String> = value()?
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect();
                    if names.is_empty() {
                        return Err("--output-streams needs at least one stream name".into());
                    }
                    args.output_streams = Some(names);
                }
                "--repeat" => {
                    let v = value()?;
                    args.repeat = match v.parse::<u32>() {
                        Ok(n) if n > 0 => n,
                        _ => return Err(format!("--repeat must be a positive integer, not `{v}`")),
                    };
                    repeat_given = true;
                }
                "--workers" | "--processes" | "--process" => {
                    let v = value()?;
                    let n = match v.parse::<usize>() {
                        Ok(n) if n > 0 && n <= 1024 || (n == 0 && flag == "--process") => n,
                        _ => return Err(format!("{flag} must be a positive integer, not `{v}`")),
                    };
                    match flag {
                        "--workers" => args.workers = n,
                        "--processes" => args.processes = n,
                        _ => args.process = n,
                    }
                }
                "--hosts" => args.hosts = Some(value()?),
                "--state-dir" => args.state_dir = Some(value()?),
                "--list-checkpoints" => args.list_checkpoints = Some(value()?),
                "--metrics" => args.metrics = Some(value()?),
                "--metrics-token" => args.metrics_token = Some(value()?),
                "--grpc" => args.grpc = Some(value()?),
                "--grpc-token" => args.grpc_token = Some(value()?),
                "--metrics-tls-cert" => args.metrics_tls.0 = Some(value()?),
                "--metrics-tls-key" => args.metrics_tls.1 = Some(value()?),
                "--grpc-tls-cert" => args.grpc_tls.0 = Some(value()?),
                "--grpc-tls-key" => args.grpc_tls.1 = Some(value()?),
                "--log-format" => {
                    args.log_json = match value()?.as_str() {
                        "json" => true,
                        "text" => false,
                        other => {
                            return Err(format!(
                                "--log-format must be `text` or `json`, not `{other}`"
                            ))
                        }
                    }
                }
                "--checkpoint-every" => {
                    let v = value()?;
                    args.checkpoint_every = Some(parse_duration(&v).ok_or_else(|| {
                        format!(
                            "--checkpoint-every needs a duration such as 10s or 500ms, not `{v}`"
                        )
                    })?);
                }
                "--keep-checkpoints" => {
                    let v = value()?;
                    args.keep_checkpoints = match v.parse::<usize>() {
                        Ok(n) if n > 0 => n,
                        _ => {
                            return Err(format!(
                                "--keep-checkpoints must be a positive integer, not `{v}`"
                            ))
                        }
                    };
                }
                "--full-every" => {
                    let v = value()?;
                    args.full_every = match v.parse::<u32>() {
                        Ok(n) if n > 0 => n,
                        _ => {
                            return Err(format!(
                                "--full-every must be a positive integer, not `{v}`"
                            ))
                        }
                    };
                }
                "--restore-from" => {
                    let v = value()?;
                    args.restore_from = Some(v.parse::<u64>().map_err(|_| {
                        format!("--restore-from needs a checkpoint id (a number), not `{v}`")
                    })?);
                }
                "--strict" | "--bench" | "--no-restore" if inline.is_some() => {
                    return Err(format!("{flag} takes no value"))
                }
                "--strict" => args.strict = true,
                "--bench" => args.bench = true,
                "--no-restore" => args.no_restore = true,
                _ if flag.starts_with('-') && flag != "-" => {
                    return Err(format!("unknown flag `{flag}`"))
                }
                _ => return Err(format!("unexpected argument `{arg}`")),
            }
        }
        Ok(Some((args, repeat_given)))
    }

    /// The checks between flags.
    fn check(&self) -> Result<(), String> {
        let args = self;
        if args.state_dir.is_none() {
            for (given, flag) in [
                (args.checkpoint_every.is_some(), "--checkpoint-every"),
                (args.restore_from.is_some(), "--restore-from"),
                (args.no_restore, "--no-restore"),
            ] {
                if given {
                    return Err(format!("{flag} needs --state-dir"));
                }
            }
        }
        if args.no_restore && args.restore_from.is_some() {
            return Err("--no-restore and --restore-from exclude each other".into());
        }
        if args.bench && args.clock == Clock::Wall {
            return Err("--bench replays on the event clock; --clock wall does not apply".into());
        }
        Ok(())
    }
}

/// Opens `--input`: a file, or stdin for `-`.
pub(super) fn open_input(path: &str) -> Result<Box<dyn BufRead + Send>, Failure> {
    if path == "-" {
        return Ok(Box::new(BufReader::with_capacity(64 * 1024, io::stdin())));
    }
    match File::open(path) {
        Ok(f) => Ok(Box::new(BufReader::with_capacity(64 * 1024, f))),
        Err(e) => Err(Failure::runtime(format!(
            "cannot open input file `{path}`: {e}"
        ))),
    }
}

/// Opens `--output`: a file (created or truncated), or stdout for `-`.
pub(super) fn open_output(path: &str) -> Result<Box<dyn Write + Send>, Failure> {
    if path == "-" {
        return Ok(Box::new(io::stdout()));
    }
    match File::create(path) {
        Ok(f) => Ok(Box::new(f)),
        Err(e) => Err(Failure::runtime(format!(
            "cannot create output file `{path}`: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Option<Args>, String> {
        Args::parse(s.split_whitespace())
    }

    #[test]
    fn defaults() {
        let a = parse("").unwrap().unwrap();
        assert_eq!(
            (a.input.as_str(), a.output.as_str(), a.clock, a.strict),
            ("-", "-", Clock::Event, false)
        );
        assert_eq!((a.output_streams, a.bench, a.repeat), (None, false, 10));
    }

    #[test]
    fn every_flag_both_spellings() {
        let a =
            parse("--input in.jsonl --output=out.jsonl --clock wall --strict --output-streams A,B")
                .unwrap()
                .unwrap();
        assert_eq!(
            (a.input.as_str(), a.output.as_str(), a.clock, a.strict),
            ("in.jsonl", "out.jsonl", Clock::Wall, true)
        );
        assert_eq!(
            a.output_streams,
            Some(vec!["A".to_string(), "B".to_string()])
        );
        let b = parse("--bench --repeat=3 --input=-").unwrap().unwrap();
        assert_eq!((b.bench, b.repeat, b.input.as_str()), (true, 3, "-"));
        assert_eq!(parse("--help").unwrap(), None);
        assert_eq!(parse("--input x -h").unwrap(), None);
    }

    #[test]
    fn bad_usage() {
        for (argv, needle) in [
            ("--input", "needs a value"),
            ("--clock later", "`event` or `wall`"),
            ("--repeat 0 --bench", "positive integer"),
            ("--repeat x --bench", "positive integer"),
            ("--repeat 3", "only with --bench"),
            ("--bench --clock wall", "event clock"),
            (
                "--checkpoint-every 5s",
                "--checkpoint-every needs --state-dir",
            ),
            ("--strict=yes", "takes no value"),
            ("--output-streams ,", "at least one"),
            ("app.eventflux", "unexpected argument"),
        ] {
            let err = parse(argv).unwrap_err();
            assert!(err.contains(needle), "{argv}: {err}");
        }
    }

    #[test]
    fn usage_mentions_every_flag() {
        let u = usage("app");
        for flag in [
            "--input",
            "--output",
            "--clock",
            "--strict",
            "--output-streams",
            "--bench",
            "--repeat",
            "--workers",
            "--processes",
            "--process",
            "--hosts",
            "--help",
        ] {
            assert!(u.contains(flag), "{flag}");
        }
    }

    #[test]
    fn scale_out_flags() {
        let a = parse("--workers 3 --processes=2 --process 1 --hosts h.txt")
            .unwrap()
            .unwrap();
        assert_eq!(
            (a.workers, a.processes, a.process, a.hosts.as_deref()),
            (3, 2, 1, Some("h.txt"))
        );
        let d = parse("").unwrap().unwrap();
        assert_eq!(
            (d.workers, d.processes, d.process, d.hosts),
            (1, 1, 0, None)
        );
        assert!(parse("--process 0").unwrap().is_some());
        for bad in [
            "--workers 0",
            "--workers x",
            "--processes 0",
            "--process -1",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains("positive integer"), "{bad}: {e}");
        }
    }

    #[test]
    fn missing_input_file_is_named() {
        let Err(f) = open_input("/nonexistent/dir/events.jsonl") else {
            panic!("opened")
        };
        assert_eq!(f.code, 1);
        assert!(
            f.message.contains("`/nonexistent/dir/events.jsonl`"),
            "{}",
            f.message
        );
    }
}
