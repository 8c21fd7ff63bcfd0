//! `--config FILE.toml` (or `FILE.yaml`, the same keys): any flag of the binary as a key (`state-dir = "st"`,
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
    "metrics-tls-cert",
    "metrics-tls-key",
    "grpc",
    "grpc-token",
    "grpc-tls-cert",
    "grpc-tls-key",
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
fn substitute_env(value: &str) -> Result<String, String> {
    crate::connect::substitute(value, crate::connect::env_lookup).map_err(|e| match e {
        crate::connect::SubstError::Unset(name) => format!(
            "environment variable `{name}` is not set (and `${{{name}}}` has no `:-default`)"
        ),
        other => other.to_string(),
    })
}

/// A value of a configuration file, whatever its format.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    List(Vec<Value>),
    /// Anything else (a float, a date, a table where a value belongs), by its type's name.
    Other(&'static str),
}

impl Value {
    fn type_str(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Bool(_) => "a boolean",
            Value::List(_) => "a list",
            Value::Other(t) => t,
        }
    }
}

/// One setting of a configuration file: the line it is on, the key, the value.
struct Entry {
    line: usize,
    key: String,
    value: Value,
}

/// A configuration file read into its settings: flags, and `(stream, option)` overrides.
#[derive(Default)]
struct Settings {
    flags: Vec<Entry>,
    /// (line of the stream's section, stream, option entries).
    streams: Vec<(usize, String, Vec<Entry>)>,
}

/// Reads and checks `path` (TOML, or YAML for `.yaml`/`.yml`); `streams` are the app's
/// stream names.
pub(super) fn load(path: &str, streams: &[&str]) -> Result<Config, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config file `{path}`: {e}"))?;
    parse(path, &text, streams)
}

fn parse(path: &str, text: &str, streams: &[&str]) -> Result<Config, String> {
    let settings = if path.ends_with(".yaml") || path.ends_with(".yml") {
        yaml_settings(path, text)?
    } else {
        toml_settings(path, text)?
    };
    check(path, settings, streams)
}

type Table = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

fn from_toml(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::Str(s.clone()),
        toml::Value::Integer(i) => Value::Int(*i),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Array(items) => Value::List(items.iter().map(from_toml).collect()),
        other => Value::Other(match other {
            toml::Value::Float(_) => "a float",
            toml::Value::Datetime(_) => "a date",
            _ => "a table",
        }),
    }
}

fn toml_settings(path: &str, text: &str) -> Result<Settings, String> {
    let table: Table = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map_or(String::new(), |s| format!(":{}", line_of(text, s.start)));
        format!("{path}{line}: {}", e.message().trim())
    })?;
    let mut settings = Settings::default();
    for (key, value) in &table {
        let line = line_of(text, key.span().start);
        if key.get_ref() == "streams" {
            let toml::Value::Table(streams) = value.get_ref() else {
                return Err(format!(
                    "{path}:{line}: `streams` must be a table of [streams.<Name>] sections"
                ));
            };
            toml_overrides(text, streams, &mut settings);
            continue;
        }
        settings.flags.push(Entry {
            line,
            key: key.get_ref().clone(),
            value: from_toml(value.get_ref()),
        });
    }
    Ok(settings)
}

/// Checks the settings and turns them into command-line words and overrides.
fn check(path: &str, settings: Settings, streams: &[&str]) -> Result<Config, String> {
    let mut config = Config::default();
    for Entry { line, key, value } in settings.flags {
        let place = format!("{path}:{line}");
        let name = key.as_str();
        let words = flag_words(name, &value)
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
    for (line, stream, options) in settings.streams {
        if !streams.contains(&stream.as_str()) {
            return Err(format!(
                "{path}:{line}: [streams.{stream}]: the app has no stream `{stream}` (streams: {})",
                streams.join(", ")
            ));
        }
        for Entry { line, key, value } in options {
            let place = format!("{path}:{line}");
            let Value::Str(value) = value else {
                return Err(format!(
                    "{place}: [streams.{stream}] `{key}`: option values are strings"
                ));
            };
            let value = substitute_env(&value)
                .map_err(|e| format!("{place}: [streams.{stream}] `{key}`: {e}"))?;
            config.overrides.push(Override {
                stream: stream.clone(),
                key,
                value,
            });
        }
    }
    Ok(config)
}

/// The command-line words of config key `name` = `value`.
fn flag_words(name: &str, value: &Value) -> Result<Vec<String>, String> {
    let flag = format!("--{name}");
    if SWITCHES.contains(&name) {
        return match value {
            Value::Bool(true) => Ok(vec![flag]),
            Value::Bool(false) => Ok(Vec::new()),
            _ => Err("must be true or false".into()),
        };
    }
    if !VALUE_FLAGS.contains(&name) {
        let mut known: Vec<&str> = VALUE_FLAGS.iter().chain(SWITCHES).copied().collect();
        known.push("streams");
        return Err(format!("unknown key (keys: {})", known.join(", ")));
    }
    let text = match value {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::List(items) if name == "output-streams" => {
            let names: Result<Vec<&str>, String> = items
                .iter()
                .map(|v| match v {
                    Value::Str(s) => Ok(s.as_str()),
                    _ => Err("must list stream names (strings)".to_owned()),
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

/// The `[streams.<Name>]` sections of a TOML file. Spans are not kept inside nested tables:
/// each section's and key's line is found in the text.
fn toml_overrides(text: &str, table: &toml::Table, settings: &mut Settings) {
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
        let line = section_line(stream);
        let entries = match options {
            toml::Value::Table(options) => options
                .iter()
                .map(|(key, value)| Entry {
                    line: key_line(stream, key),
                    key: key.clone(),
                    value: from_toml(value),
                })
                .collect(),
            // Not a table: reported as an option that is not a string.
            other => vec![Entry {
                line,
                key: stream.clone(),
                value: from_toml(other),
            }],
        };
        settings.streams.push((line, stream.clone(), entries));
    }
}

/// The YAML form of the same settings: `key: value` lines, and a `streams:` mapping of
/// stream names to `option: value` mappings. Values are plain or quoted scalars, flow lists
/// (`[A, B]`) or block lists (`- A` lines). Anything else is an error at its line.
fn yaml_settings(path: &str, text: &str) -> Result<Settings, String> {
    let mut settings = Settings::default();
    // (indent, key, line) of the open `key:` without a value.
    let mut open_list: Option<(usize, String, usize, Vec<Value>)> = None;
    let mut in_streams: Option<usize> = None;
    let mut stream: Option<(usize, usize, String, Vec<Entry>)> = None;
    let close_stream = |stream: &mut Option<(usize, usize, String, Vec<Entry>)>,
                        settings: &mut Settings| {
        if let Some((_, line, name, entries)) = stream.take() {
            settings.streams.push((line, name, entries));
        }
    };
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = strip_yaml_comment(raw);
        if content.trim().is_empty() || content.trim() == "---" {
            continue;
        }
        let indent = content.len() - content.trim_start().len();
        let body = content.trim();
        let bad = |what: &str| format!("{path}:{line}: {what}");
        if let Some(item) = body
            .strip_prefix("- ")
            .or(if body == "-" { Some("") } else { None })
        {
            match open_list.as_mut() {
                Some((_, _, _, items)) => items.push(yaml_scalar(item.trim())),
                None => return Err(bad("a list item without a `key:` above it")),
            }
            continue;
        }
        if let Some((_, key, kline, items)) = open_list.take() {
            settings.flags.push(Entry {
                line: kline,
                key,
                value: Value::List(items),
            });
        }
        let Some((key, value)) = split_yaml_key(body) else {
            return Err(bad(
                "expected `key: value` (the YAML config takes flags as keys and a `streams:` mapping)",
            ));
        };
        if indent == 0 {
            close_stream(&mut stream, &mut settings);
            in_streams = None;
            if key == "streams" && value.is_empty() {
                in_streams = Some(line);
            } else if value.is_empty() {
                open_list = Some((indent, key, line, Vec::new()));
            } else {
                settings.flags.push(Entry {
                    line,
                    key,
                    value: yaml_scalar(value),
                });
            }
            continue;
        }
        if in_streams.is_none() {
            return Err(bad("indented line outside `streams:`"));
        }
        match &mut stream {
            Some((stream_indent, _, _, entries)) if indent > *stream_indent => {
                if value.is_empty() {
                    return Err(bad("option values are strings"));
                }
                entries.push(Entry {
                    line,
                    key,
                    value: yaml_scalar(value),
                });
            }
            _ => {
                close_stream(&mut stream, &mut settings);
                if !value.is_empty() {
                    return Err(bad(
                        "under `streams:`, each stream's name opens a mapping of its options",
                    ));
                }
                stream = Some((indent, line, key, Vec::new()));
            }
        }
    }
    if let Some((_, key, line, items)) = open_list.take() {
        settings.flags.push(Entry {
            line,
            key,
            value: Value::List(items),
        });
    }
    close_stream(&mut stream, &mut settings);
    Ok(settings)
}

/// `line` without a `#` comment (outside quotes).
fn strip_yaml_comment(line: &str) -> &str {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if i == 0 || line[..i].ends_with(char::is_whitespace) => return &line[..i],
            _ => {}
        }
    }
    line
}

/// `key: value` (the key may be quoted) into its parts; the value may be empty.
fn split_yaml_key(body: &str) -> Option<(String, &str)> {
    let (key, rest) = if let Some(q) = body.strip_prefix('"').or_else(|| body.strip_prefix('\'')) {
        let quote = body.chars().next()?;
        let end = q.find(quote)?;
        (q[..end].to_owned(), q[end + 1..].trim_start())
    } else {
        let end = body.find(':')?;
        (body[..end].trim().to_owned(), &body[end..])
    };
    let value = rest.strip_prefix(':')?;
    if !value.is_empty() && !value.starts_with(' ') {
        return None;
    }
    Some((key, value.trim()))
}

/// A YAML scalar or flow list.
fn yaml_scalar(text: &str) -> Value {
    let unquote = |t: &str| -> Option<String> {
        let q = t.chars().next()?;
        if (q == '"' || q == '\'') && t.len() >= 2 && t.ends_with(q) {
            Some(t[1..t.len() - 1].to_owned())
        } else {
            None
        }
    };
    if let Some(s) = unquote(text) {
        return Value::Str(s);
    }
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return Value::List(
            inner
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(yaml_scalar)
                .collect(),
        );
    }
    match text {
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        _ => match text.parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Str(text.to_owned()),
        },
    }
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
    fn yaml_takes_the_same_keys() {
        std::env::set_var("EF_TEST_YAML_DIR", "/srv");
        let c = parse(
            "c.yaml",
            "# service\nstate-dir: ${EF_TEST_YAML_DIR}/st   # where\nkeep-checkpoints: 4\nstrict: true\n\
             output-streams:\n  - Alerts\n  - Orders\nlog-format: \"json\"\nstreams:\n  Orders:\n    \"file.path\": 'in # 1.jsonl'\n",
            STREAMS,
        )
        .unwrap();
        let args = Args::parse(c.argv.iter().map(String::as_str))
            .unwrap()
            .unwrap();
        assert_eq!(args.state_dir.as_deref(), Some("/srv/st"));
        assert_eq!(
            (args.keep_checkpoints, args.strict, args.log_json),
            (4, true, true)
        );
        assert_eq!(
            args.output_streams,
            Some(vec!["Alerts".to_string(), "Orders".to_string()])
        );
        assert_eq!(c.overrides[0].value, "in # 1.jsonl");
        for (text, want) in [
            (
                "strict: true\nbogus: 1\n",
                "c.yaml:2: key `bogus`: unknown key",
            ),
            (
                "keep-checkpoints: many\n",
                "c.yaml:1: key `keep-checkpoints`",
            ),
            ("just words\n", "c.yaml:1: expected `key: value`"),
            ("streams:\n  Nope:\n    a: b\n", "c.yaml:2: [streams.Nope]"),
            ("  indented: 1\n", "c.yaml:1: indented line outside"),
            ("- x\n", "c.yaml:1: a list item"),
        ] {
            let err = parse("c.yaml", text, STREAMS).unwrap_err();
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
