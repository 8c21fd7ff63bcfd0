//! `--config FILE.toml`: any flag of the binary as a key (`state-dir = "st"`,
//! `keep-checkpoints = 5`, `strict = true`, `output-streams = ["A", "B"]`), and per-stream
//! overrides of `WITH` options under `[streams.<Name>]`. `${VAR}` and `${VAR:-default}` in
//! values come from the environment. Flags given on the command line win. Every mistake
//! names the file, the line and the key (docs/operations.md#configuration).

use std::collections::BTreeMap;

use toml::Spanned;

use super::args::Args;

/// A `[streams.<Name>]` override: the stream, the option key and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Override {
    pub stream: String,
    pub key: String,
    pub value: String,
}

/// A loaded configuration: the flags it sets (as command-line words, to be parsed before
/// the real ones) and the stream overrides.
#[derive(Debug, Default)]
pub(super) struct Config {
    pub argv: Vec<String>,
    pub overrides: Vec<Override>,
}

/// Flags that take a value, as config keys.
const VALUE_FLAGS: &[&str] = &[
    "input",
    "output",
    "clock",
    "output-streams",
    "state-dir",
    "checkpoint-every",
    "keep-checkpoints",
    "full-every",
    "restore-from",
    "metrics",
    "metrics-token",
    "log-format",
];
/// Flags without a value (`key = true`).
const SWITCHES: &[&str] = &["strict", "no-restore"];

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Replaces `${VAR}` and `${VAR:-default}` in `value` from the environment; an unset
/// variable without a default is an error naming it.
pub fn substitute_env(value: &str) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!("unclosed `${{` in `{value}`"));
        };
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        match (std::env::var(name), default) {
            (Ok(v), _) => out.push_str(&v),
            (Err(_), Some(d)) => out.push_str(d),
            (Err(_), None) => {
                return Err(format!(
                "environment variable `{name}` is not set (and `${{{name}}}` has no `:-default`)"
            ))
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Reads and checks `path`; `streams` are the app's stream names.
pub(super) fn load(path: &str, streams: &[&str]) -> Result<Config, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config file `{path}`: {e}"))?;
    parse(path, &text, streams)
}

type Table = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

fn parse(path: &str, text: &str, streams: &[&str]) -> Result<Config, String> {
    let at = |offset: usize| format!("{path}:{}", line_of(text, offset));
    let table: Table = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map_or(String::new(), |s| format!(":{}", line_of(text, s.start)));
        format!("{path}{line}: {}", e.message().trim())
    })?;
    let mut config = Config::default();
    for (key, value) in &table {
        let name = key.get_ref().as_str();
        let place = at(key.span().start);
        if name == "streams" {
            let toml::Value::Table(streams_table) = value.get_ref() else {
                return Err(format!(
                    "{place}: `streams` must be a table of [streams.<Name>] sections"
                ));
            };
            overrides(path, text, streams_table, streams, &mut config)?;
            continue;
        }
        let words = flag_words(name, value.get_ref())
            .and_then(|words| {
                words
                    .into_iter()
                    .map(|w| substitute_env(&w))
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(|e| format!("{place}: key `{name}`: {e}"))?;
        // Each key on its own, so a bad value is reported at its line.
        Args::parse_flags(words.iter().map(String::as_str))
            .map_err(|e| format!("{place}: key `{name}`: {e}"))?;
        config.argv.extend(words);
    }
    Ok(config)
}

/// The command-line words of config key `name` = `value`.
fn flag_words(name: &str, value: &toml::Value) -> Result<Vec<String>, String> {
    let flag = format!("--{name}");
    if SWITCHES.contains(&name) {
        return match value {
            toml::Value::Boolean(true) => Ok(vec![flag]),
            toml::Value::Boolean(false) => Ok(Vec::new()),
            _ => Err("must be true or false".into()),
        };
    }
    if !VALUE_FLAGS.contains(&name) {
        let mut known: Vec<&str> = VALUE_FLAGS.iter().chain(SWITCHES).copied().collect();
        known.push("streams");
        return Err(format!("unknown key (keys: {})", known.join(", ")));
    }
    let text = match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Array(items) if name == "output-streams" => {
            let names: Result<Vec<&str>, String> = items
                .iter()
                .map(|v| {
                    v.as_str()
                        .ok_or_else(|| "must list stream names (strings)".to_owned())
                })
                .collect();
            names?.join(",")
        }
        other => {
            return Err(format!(
                "must be a string or a number, not {}",
                other.type_str()
            ))
        }
    };
    Ok(vec![flag, text])
}

fn overrides(
    path: &str,
    text: &str,
    table: &toml::Table,
    streams: &[&str],
    config: &mut Config,
) -> Result<(), String> {
    // Spans are not kept inside nested tables: find each section's line in the text.
    let section_line = |stream: &str| -> usize {
        text.lines()
            .position(|l| {
                let l = l.trim();
                l.starts_with("[streams.") && l.trim_end_matches(']').ends_with(stream)
            })
            .map_or(0, |i| i + 1)
    };
    let key_line = |stream: &str, key: &str| -> usize {
        let start = section_line(stream);
        text.lines()
            .enumerate()
            .skip(start)
            .take_while(|(_, l)| !l.trim_start().starts_with('['))
            .find(|(_, l)| {
                let l = l.trim_start();
                l.starts_with(key) || l.starts_with(&format!("\"{key}\""))
            })
            .map_or(start, |(i, _)| i + 1)
    };
    for (stream, options) in table {
        if !streams.contains(&stream.as_str()) {
            return Err(format!(
                "{path}:{}: [streams.{stream}]: the app has no stream `{stream}` (streams: {})",
                section_line(stream),
                streams.join(", ")
            ));
        }
        let toml::Value::Table(options) = options else {
            return Err(format!(
                "{path}:{}: `streams.{stream}` must be a table of options",
                section_line(stream)
            ));
        };
        for (key, value) in options {
            let place = format!("{path}:{}", key_line(stream, key));
            let toml::Value::String(value) = value else {
                return Err(format!(
                    "{place}: [streams.{stream}] `{key}`: option values are strings"
                ));
            };
            let value = substitute_env(value)
                .map_err(|e| format!("{place}: [streams.{stream}] `{key}`: {e}"))?;
            config.overrides.push(Override {
                stream: stream.clone(),
                key: key.clone(),
                value,
            });
        }
    }
    Ok(())
}

/// The command line with `--config FILE` replaced by the flags the file sets (placed first,
/// so the command line's own flags win), and the file's stream overrides.
pub(super) fn expand(
    argv: &[String],
    streams: &[&str],
) -> Result<(Vec<String>, Vec<Override>), String> {
    let mut rest = Vec::with_capacity(argv.len());
    let mut config = Config::default();
    let mut i = 0;
    while i < argv.len() {
        let arg = &argv[i];
        let file = if let Some(v) = arg.strip_prefix("--config=") {
            Some(v.to_owned())
        } else if arg == "--config" {
            i += 1;
            Some(
                argv.get(i)
                    .cloned()
                    .ok_or_else(|| "--config needs a value".to_owned())?,
            )
        } else {
            None
        };
        match file {
            Some(path) => {
                let loaded = load(&path, streams)?;
                config.argv.extend(loaded.argv);
                config.overrides.extend(loaded.overrides);
            }
            None => rest.push(arg.clone()),
        }
        i += 1;
    }
    config.argv.extend(rest);
    Ok((config.argv, config.overrides))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAMS: &[&str] = &["Orders", "Alerts"];

    #[test]
    fn flags_and_overrides() {
        std::env::set_var("EF_TEST_STATE", "/var/st");
        let c = parse(
            "c.toml",
            "state-dir = \"${EF_TEST_STATE}\"\nkeep-checkpoints = 5\nstrict = true\nno-restore = false\n\
             output-streams = [\"Alerts\"]\ncheckpoint-every = \"${EF_TEST_UNSET:-2s}\"\n\n\
             [streams.Orders]\n\"file.path\" = \"in.jsonl\"\n",
            STREAMS,
        )
        .unwrap();
        let args = Args::parse(c.argv.iter().map(String::as_str))
            .unwrap()
            .unwrap();
        assert_eq!(args.state_dir.as_deref(), Some("/var/st"));
        assert_eq!((args.keep_checkpoints, args.strict), (5, true));
        assert_eq!(args.checkpoint_every, Some(2000));
        assert_eq!(args.output_streams, Some(vec!["Alerts".to_string()]));
        assert_eq!(
            c.overrides,
            [Override {
                stream: "Orders".into(),
                key: "file.path".into(),
                value: "in.jsonl".into()
            }]
        );
    }

    #[test]
    fn mistakes_name_file_line_and_key() {
        for (text, want) in [
            (
                "strict = true\nbogus = 1\n",
                "c.toml:2: key `bogus`: unknown key",
            ),
            (
                "keep-checkpoints = \"many\"\n",
                "c.toml:1: key `keep-checkpoints`: --keep-checkpoints must be a positive integer",
            ),
            (
                "strict = \"yes\"\n",
                "c.toml:1: key `strict`: must be true or false",
            ),
            ("clock = \"sundial\"\n", "c.toml:1: key `clock`"),
            (
                "state-dir = \"${EF_TEST_NEVER_SET}\"\n",
                "environment variable `EF_TEST_NEVER_SET` is not set",
            ),
            ("x = = 1\n", "c.toml:1:"),
            (
                "strict = true\n[streams.Nope]\na = \"b\"\n",
                "c.toml:2: [streams.Nope]: the app has no stream `Nope`",
            ),
            (
                "[streams.Orders]\n\"file.path\" = 3\n",
                "c.toml:2: [streams.Orders] `file.path`: option values are strings",
            ),
        ] {
            let err = parse("c.toml", text, STREAMS).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn command_line_wins() {
        let dir = std::env::temp_dir().join(format!("ef-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("app.toml");
        std::fs::write(&file, "output = \"from-config\"\ninput = \"in\"\n").unwrap();
        let argv: Vec<String> = ["--output", "from-cli", "--config", file.to_str().unwrap()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (words, _) = expand(&argv, STREAMS).unwrap();
        let args = Args::parse(words.iter().map(String::as_str))
            .unwrap()
            .unwrap();
        assert_eq!(
            (args.output.as_str(), args.input.as_str()),
            ("from-cli", "in")
        );
        let missing = vec!["--config".to_string(), "/nonexistent.toml".to_string()];
        assert!(expand(&missing, STREAMS)
            .unwrap_err()
            .contains("/nonexistent.toml"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn substitution() {
        std::env::set_var("EF_TEST_HOST", "h");
        assert_eq!(
            substitute_env("nats://${EF_TEST_HOST}:${EF_TEST_PORT_UNSET:-4222}/x").unwrap(),
            "nats://h:4222/x"
        );
        assert!(substitute_env("${EF_TEST_NOPE}")
            .unwrap_err()
            .contains("EF_TEST_NOPE"));
        assert!(substitute_env("${oops").is_err());
        assert_eq!(substitute_env("plain $ text").unwrap(), "plain $ text");
    }
}
