//! Tests of the driver with a small hand-written app.

use std::io::{self, Read};
use std::time::Duration;

use super::args::Args;
use super::bench::{decode_all, replay, BenchStats};
use super::*;
use crate::functions::now_millis;
use crate::io::{CollectingSink, EventSink};
use crate::{DecodeError, EventKind};

/// The one input stream: `In (x LONG)`.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct In {
    #[serde(default)]
    x: Option<i64>,
}

#[derive(serde::Serialize)]
struct Out {
    x: Option<i64>,
    half: Option<f64>,
}

#[derive(serde::Serialize)]
struct Triggered {
    triggered_time: i64,
}

/// `INSERT INTO Out SELECT x, x / 2.0 AS half FROM In;` plus a trigger `Tick` every
/// `PERIOD` ms from the start and a `Started` event at the start. `STATE`: whether it
/// keeps state (`Application::KEEPS_STATE`).
struct Fake<S, const STATE: bool = true, const ON_ERROR: u8 = NO_SOURCE> {
    sink: S,
    next: Option<i64>,
    /// The clock once started.
    now: Option<i64>,
}

const PERIOD: i64 = 1000;

/// `Fake`'s declared sources: none, or a stdin source on `In` with `'on.error'` drop / fail.
const NO_SOURCE: u8 = 0;
const DROPS: u8 = 1;
const FAILS: u8 = 2;

static DROPPING_SOURCE: [crate::connect::ConnectorDesc; 1] = [crate::connect::ConnectorDesc {
    stream: "In",
    direction: crate::connect::Direction::Source,
    extension: "stdin",
    options: &[("on.error", "drop")],
}];
static FAILING_SOURCE: [crate::connect::ConnectorDesc; 1] = [crate::connect::ConnectorDesc {
    stream: "In",
    direction: crate::connect::Direction::Source,
    extension: "stdin",
    options: &[("on.error", "fail")],
}];

impl<S: EventSink, const STATE: bool, const ON_ERROR: u8> Application for Fake<S, STATE, ON_ERROR> {
    type Crossing = ();
    type Input = In;
    type Sink = S;
    const KEEPS_STATE: bool = STATE;

    fn with_sink(sink: S) -> Self {
        Fake {
            sink,
            next: None,
            now: None,
        }
    }
    fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }
    fn input_streams() -> &'static [&'static str] {
        &["In"]
    }
    fn connectors() -> &'static [crate::connect::ConnectorDesc] {
        match ON_ERROR {
            DROPS => &DROPPING_SOURCE,
            FAILS => &FAILING_SOURCE,
            _ => &[],
        }
    }
    fn output_streams() -> &'static [&'static str] {
        &["Out", "Tick", "Started"]
    }
    fn decode(stream: &str, data: &str) -> Result<In, DecodeError> {
        if stream != "In" {
            return Err(DecodeError::UnknownStream(stream.to_string()));
        }
        serde_json::from_str(data).map_err(|e| DecodeError::Data {
            stream: stream.into(),
            message: e.to_string(),
        })
    }
    fn send(&mut self, ts: i64, event: In) {
        self.advance_time(ts);
        let out = Out {
            x: event.x,
            half: event.x.map(|x| x as f64 / 2.0),
        };
        self.sink.emit("Out", ts, EventKind::Current, &out);
    }
    fn advance_time(&mut self, ts: i64) {
        self.now = self.now.map(|n| n.max(ts));
        while let Some(t) = self.next.filter(|&t| t <= ts) {
            self.sink.emit(
                "Tick",
                t,
                EventKind::Current,
                &Triggered { triggered_time: t },
            );
            self.next = Some(t + PERIOD);
        }
    }
    fn next_timer(&self) -> Option<i64> {
        self.next
    }
    fn start(&mut self, ts: i64) {
        self.sink.emit(
            "Started",
            ts,
            EventKind::Current,
            &Triggered { triggered_time: ts },
        );
        self.next = Some(ts + PERIOD);
        self.now = Some(ts);
    }
    fn clock(&self) -> Option<i64> {
        self.now
    }
    fn snapshot(&self) -> Vec<u8> {
        let mut b = crate::state::SnapshotBuilder::new(1);
        b.add("fake/next", 0, &(self.next, self.now));
        b.finish()
    }
    fn restore(&mut self, bytes: &[u8]) -> Result<(), crate::state::StateError> {
        let snap = crate::state::Snapshot::decode(bytes, 1)?;
        let mut state = (self.next, self.now);
        snap.restore_into("fake/next", 0, &mut state)?;
        (self.next, self.now) = state;
        Ok(())
    }
}

type Collecting = Fake<CollectingSink>;

fn run_text(
    input: &'static str,
    opts: &RunOptions,
) -> (Result<RunStats, RunError>, Vec<String>, String) {
    let mut app = Collecting::with_sink(CollectingSink::new());
    let mut errors = Vec::new();
    let result = run(&mut app, input.as_bytes(), opts, &mut errors);
    (result, app.sink.lines, String::from_utf8(errors).unwrap())
}

fn line(stream: &str, ts: i64, data: &str) -> String {
    format!(r#"{{"stream":"{stream}","ts":{ts},"kind":"current","data":{data}}}"#)
}

#[test]
fn event_clock_defaults_ticks_and_array_data() {
    let input = r#"{"stream":"In","data":{"x":1}}
{"stream":"In","ts":500,"data":[3]}
{"stream":"In","data":{"x":null}}

{"ts":2500}
{"stream":"In","data":{}}
"#;
    let (result, lines, errors) = run_text(input, &RunOptions::default());
    assert_eq!(
        result.unwrap(),
        RunStats {
            events: 4,
            bad_lines: 0
        }
    );
    assert_eq!(errors, "");
    assert_eq!(
        lines,
        [
            line("Started", 0, r#"{"triggered_time":0}"#),
            line("Out", 0, r#"{"x":1,"half":0.5}"#),
            line("Out", 500, r#"{"x":3,"half":1.5}"#),
            line("Out", 500, r#"{"x":null,"half":null}"#),
            line("Tick", 1000, r#"{"triggered_time":1000}"#),
            line("Tick", 2000, r#"{"triggered_time":2000}"#),
            line("Out", 2500, r#"{"x":null,"half":null}"#),
        ]
    );
}

#[test]
fn a_first_tick_starts_the_app_and_pending_timers_do_not_fire_at_the_end() {
    let (result, lines, _) = run_text(
        "{\"ts\":100}\n{\"stream\":\"In\",\"ts\":1099,\"data\":{\"x\":2}}\n",
        &RunOptions::default(),
    );
    assert_eq!(result.unwrap().events, 1);
    assert_eq!(
        lines,
        [
            line("Started", 100, r#"{"triggered_time":100}"#),
            line("Out", 1099, r#"{"x":2,"half":1.0}"#)
        ]
    );
}

#[test]
fn bad_lines_are_reported_with_numbers_and_skipped() {
    let input = r#"{"stream":"In","ts":10,"data":{"x":1}}
not json
{"stream":"Nope","ts":20,"data":{"x":1}}
{"stream":"In","ts":30,"data":{"x":"one"}}
{"stream":"In","ts":1.5,"data":{"x":1}}
{"stream":"In","data":{"x":4}}
"#;
    let (result, lines, errors) = run_text(input, &RunOptions::default());
    assert_eq!(
        result.unwrap(),
        RunStats {
            events: 2,
            bad_lines: 4
        }
    );
    let errors: Vec<&str> = errors.lines().collect();
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert_eq!(errors[0], "line 2: expected a JSON object");
    assert_eq!(errors[1], "line 3: unknown stream `Nope`");
    assert!(
        errors[2].starts_with("line 4: bad data for stream `In`: invalid type"),
        "{}",
        errors[2]
    );
    assert!(
        errors[3].starts_with("line 5: `ts` must be an integer"),
        "{}",
        errors[3]
    );
    // The skipped lines do not move the clock: the last event is at the first one's time.
    assert_eq!(
        lines.last().unwrap(),
        &line("Out", 10, r#"{"x":4,"half":2.0}"#)
    );
}

#[test]
fn strict_mode_stops_at_the_first_bad_line() {
    let input = "{\"stream\":\"In\",\"ts\":1,\"data\":{\"x\":1}}\n{\"stream\":\"Nope\",\"data\":{}}\n{\"stream\":\"In\",\"data\":{}}\n";
    let (result, lines, errors) = run_text(
        input,
        &RunOptions {
            strict: true,
            ..RunOptions::default()
        },
    );
    match result {
        Err(RunError::BadLine { line_no, message }) => {
            assert_eq!(line_no, 2);
            assert_eq!(message, "unknown stream `Nope`");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(errors, "");
}

#[test]
fn read_errors_end_the_run() {
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("device gone"))
        }
    }
    for clock in [Clock::Event, Clock::Wall] {
        let mut app = Collecting::with_sink(CollectingSink::new());
        let opts = RunOptions {
            clock,
            strict: false,
        };
        let result = run(
            &mut app,
            io::BufReader::new(Failing),
            &opts,
            &mut io::sink(),
        );
        assert!(
            matches!(&result, Err(RunError::Io(e)) if e.to_string() == "device gone"),
            "{result:?}"
        );
    }
}

#[test]
fn a_stop_condition_ends_the_run_early() {
    let mut app = Collecting::with_sink(CollectingSink::new());
    let input = "{\"stream\":\"In\",\"data\":{}}\n".repeat(10);
    let stats = run_until(
        &mut app,
        io::Cursor::new(input),
        &RunOptions::default(),
        &mut io::sink(),
        |a| a.sink.lines.len() >= 4,
    );
    assert_eq!(stats.unwrap().events, 3);
}

/// Gives its text only after a delay, like a quiet producer on a pipe.
struct Slow {
    delay: Duration,
    text: io::Cursor<Vec<u8>>,
}

impl Read for Slow {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        std::thread::sleep(std::mem::take(&mut self.delay));
        self.text.read(buf)
    }
}

#[test]
fn wall_clock_fires_timers_while_no_input_arrives() {
    let begin = now_millis();
    let input = Slow {
        delay: Duration::from_millis(2300),
        text: io::Cursor::new(
            b"{\"stream\":\"In\",\"ts\":5,\"data\":{\"x\":7}}\n{\"ts\":1}\n".to_vec(),
        ),
    };
    let mut app = Collecting::with_sink(CollectingSink::new());
    let opts = RunOptions {
        clock: Clock::Wall,
        strict: true,
    };
    let stats = run(&mut app, io::BufReader::new(input), &opts, &mut io::sink()).unwrap();
    assert_eq!(
        stats,
        RunStats {
            events: 1,
            bad_lines: 0
        }
    );
    let lines = &app.sink.lines;
    let streams: Vec<&str> = lines.iter().map(|l| l.split('"').nth(3).unwrap()).collect();
    assert_eq!(streams, ["Started", "Tick", "Tick", "Out"], "{lines:?}");
    let ts = |l: &str| -> i64 {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        v["ts"].as_i64().unwrap()
    };
    let started = ts(&lines[0]);
    assert!(
        started >= begin && started < begin + 500,
        "{started} vs {begin}"
    );
    assert_eq!(ts(&lines[1]), started + PERIOD);
    assert_eq!(ts(&lines[2]), started + 2 * PERIOD);
    // The event gets its arrival time, not its `ts`.
    assert!(ts(&lines[3]) >= started + 2300, "{lines:?}");
}

#[test]
fn output_streams_are_checked() {
    let names = vec!["Tick".to_string()];
    let set = output_filter(&AppInfo::of::<Collecting>(), Some(&names)).unwrap();
    assert_eq!(set.into_iter().collect::<Vec<_>>(), ["Tick"]);
    assert_eq!(
        output_filter(&AppInfo::of::<Collecting>(), None)
            .unwrap()
            .len(),
        3
    );
    let err = output_filter(&AppInfo::of::<Collecting>(), Some(&["In".to_string()])).unwrap_err();
    assert_eq!(err.code, 2);
    assert_eq!(
        err.message,
        "unknown output stream `In` (output streams: Out, Tick, Started)"
    );
}

fn temp_path(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("eventflux-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name).to_string_lossy().into_owned()
}

fn args(argv: &str) -> Args {
    Args::parse(argv.split_whitespace()).unwrap().unwrap()
}

#[test]
fn run_main_writes_the_filtered_output_file() {
    let (input, output) = (temp_path("run-in.jsonl"), temp_path("run-out.jsonl"));
    std::fs::write(
        &input,
        "{\"stream\":\"In\",\"ts\":1,\"data\":{\"x\":2}}\n{\"ts\":1001}\n",
    )
    .unwrap();
    run_main_of::<Fake<JsonLinesWriter>>(&args(&format!(
        "--input {input} --output {output} --output-streams Out,Tick"
    )))
    .unwrap();
    let text = std::fs::read_to_string(&output).unwrap();
    assert_eq!(
        text,
        format!(
            "{}\n{}\n",
            line("Out", 1, r#"{"x":2,"half":1.0}"#),
            line("Tick", 1001, r#"{"triggered_time":1001}"#)
        )
    );

    std::fs::write(
        &input,
        "{\"stream\":\"In\",\"ts\":1,\"data\":{\"x\":2}}\nbad\n",
    )
    .unwrap();
    let strict = run_main_of::<Fake<JsonLinesWriter>>(&args(&format!(
        "--input {input} --output {output} --strict"
    )));
    let failure = strict.unwrap_err();
    assert_eq!(
        (failure.code, failure.message.as_str()),
        (2, "line 2: expected a JSON object (--strict)")
    );

    let missing =
        run_main_of::<Fake<JsonLinesWriter>>(&args("--input /nonexistent/in.jsonl")).unwrap_err();
    assert_eq!(missing.code, 1);
    assert!(missing.message.contains("/nonexistent/in.jsonl"));
    let unknown = run_main_of::<Fake<JsonLinesWriter>>(&args("--output-streams Nope")).unwrap_err();
    assert_eq!(unknown.code, 2);
    // An app built without snapshots (by `eventflux run`) refuses a state directory.
    let stateless =
        run_main_of::<Fake<JsonLinesWriter, false>>(&args("--state-dir /tmp/never")).unwrap_err();
    assert_eq!(stateless.code, 2);
    assert!(
        stateless.message.contains("keeps no state"),
        "{}",
        stateless.message
    );
}

#[test]
fn bench_replays_with_shifted_time() {
    let input = "{\"stream\":\"In\",\"ts\":0,\"data\":{\"x\":1}}\n{\"stream\":\"In\",\"ts\":500,\"data\":[2]}\nbad\n{\"ts\":1000}\n{\"stream\":\"In\",\"data\":{}}\n";
    let mut errors = Vec::new();
    let events = decode_all::<Fake<CountingSink>>(input.as_bytes(), false, &mut errors).unwrap();
    assert_eq!(
        String::from_utf8(errors).unwrap(),
        "line 3: expected a JSON object\n"
    );
    assert_eq!(
        events
            .iter()
            .map(|e| (e.0, e.1.is_some()))
            .collect::<Vec<_>>(),
        [(0, true), (500, true), (1000, false), (1000, true)]
    );
    assert!(matches!(
        decode_all::<Fake<CountingSink>>(input.as_bytes(), true, &mut io::sink()),
        Err(RunError::BadLine { line_no: 3, .. })
    ));

    // Span 1001: replays at 0..=1000, 1001..=2001, 2002..=3002; ticks at 1000, 2000, 3000.
    let stats = replay::<Fake<CountingSink>>(events, 3);
    assert_eq!((stats.events, stats.outputs), (9, 1 + 9 + 3));
    assert!(stats.seconds >= 0.0);
}

#[test]
fn bench_result_line() {
    let line = BenchStats {
        events: 10,
        seconds: 0.5,
        outputs: 3,
        rss_kib: Some((100, 120)),
    }
    .to_json_line();
    assert_eq!(
        line,
        r#"{"events": 10, "seconds": 0.5, "events_per_sec": 20.0, "outputs": 3, "rss_kib_first": 100, "rss_kib_last": 120}"#
    );
    let zero = BenchStats {
        events: 0,
        seconds: 0.0,
        outputs: 0,
        rss_kib: None,
    }
    .to_json_line();
    assert_eq!(
        zero,
        r#"{"events": 0, "seconds": 0.0, "events_per_sec": 0.0, "outputs": 0}"#
    );
}

#[test]
fn an_event_without_ts_after_a_restore_gets_the_restored_clock() {
    let mut app = Collecting::with_sink(CollectingSink::new());
    let mut errors = Vec::new();
    let first = "{\"stream\":\"In\",\"ts\":700,\"data\":{\"x\":1}}\n";
    run(
        &mut app,
        first.as_bytes(),
        &RunOptions::default(),
        &mut errors,
    )
    .unwrap();
    let mut fresh = Collecting::with_sink(CollectingSink::new());
    Application::restore(&mut fresh, &Application::snapshot(&app)).unwrap();
    let second = "{\"stream\":\"In\",\"data\":{\"x\":2}}\n";
    run(
        &mut fresh,
        second.as_bytes(),
        &RunOptions::default(),
        &mut errors,
    )
    .unwrap();
    // Neither a second start nor the time 0.
    assert_eq!(
        fresh.sink.lines,
        vec![line("Out", 700, r#"{"x":2,"half":1.0}"#)]
    );
    assert!(errors.is_empty());
}

#[test]
fn a_source_with_on_error_drop_skips_its_undecodable_lines_silently() {
    let input = "{\"stream\":\"In\",\"ts\":1,\"data\":{\"x\":1}}\n{\"stream\":\"In\",\"ts\":2,\"data\":{\"x\":\"two\"}}\n{\"stream\":\"Nope\",\"ts\":3,\"data\":{}}\n{\"stream\":\"In\",\"ts\":4,\"data\":{\"x\":4}}\n";
    let mut app = Fake::<CollectingSink, true, DROPS>::with_sink(CollectingSink::new());
    let mut errors = Vec::new();
    let stats = run(
        &mut app,
        input.as_bytes(),
        &RunOptions::default(),
        &mut errors,
    )
    .unwrap();
    // Line 2 is `In`'s and dropped; line 3 names no declared source: reported as usual.
    assert_eq!(
        stats,
        RunStats {
            events: 2,
            bad_lines: 1
        }
    );
    assert_eq!(
        String::from_utf8(errors).unwrap(),
        "line 3: unknown stream `Nope`\n"
    );
    let outs: Vec<&String> = app
        .sink
        .lines
        .iter()
        .filter(|l| l.contains("\"Out\""))
        .collect();
    assert_eq!(outs.len(), 2, "{outs:?}");
}

#[test]
fn a_source_with_on_error_fail_stops_the_app_after_a_checkpoint() {
    let (input, output) = (temp_path("fail-in.jsonl"), temp_path("fail-out.jsonl"));
    let state = temp_path("fail-state");
    let _ = std::fs::remove_dir_all(&state);
    std::fs::write(
        &input,
        "{\"stream\":\"In\",\"ts\":1,\"data\":{\"x\":1}}\n{\"stream\":\"In\",\"ts\":2,\"data\":{\"x\":\"two\"}}\n{\"stream\":\"In\",\"ts\":3,\"data\":{\"x\":3}}\n",
    )
    .unwrap();
    let failure = run_main_of::<Fake<JsonLinesWriter, true, FAILS>>(&args(&format!(
        "--input {input} --output {output} --output-streams Out --state-dir {state}"
    )))
    .unwrap_err();
    assert_eq!(failure.code, 1);
    assert!(
        failure.message.contains("line 2:") && failure.message.contains("on.error = 'fail'"),
        "{}",
        failure.message
    );
    // The event before the bad line was processed and delivered, the one after it not.
    let text = std::fs::read_to_string(&output).unwrap();
    assert_eq!(
        text,
        format!("{}\n", line("Out", 1, r#"{"x":1,"half":0.5}"#))
    );
    // The checkpoint taken before stopping resumes right before the bad line: a restart
    // reads it again (and fails again) instead of losing or repeating anything.
    let again = run_main_of::<Fake<JsonLinesWriter, true, FAILS>>(&args(&format!(
        "--input {input} --output {output} --output-streams Out --state-dir {state}"
    )))
    .unwrap_err();
    assert_eq!(again.code, 1);
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        format!("{}\n", line("Out", 1, r#"{"x":1,"half":0.5}"#))
    );
    let _ = std::fs::remove_dir_all(&state);
}

/// [`run_main`] with the app `A`.
fn run_main_of<A>(args: &Args) -> Result<(), Failure>
where
    A: Application<Sink = JsonLinesWriter> + 'static,
{
    run_main(&AppInfo::of::<A>(), args, new_app::<A>)
}
