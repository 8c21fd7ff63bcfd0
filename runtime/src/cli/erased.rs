//! The app as the driver sees it: static facts ([`AppInfo`]) and one object
//! ([`DynApp`]), so that the driver (argument parsing, configuration, connectors,
//! checkpoints, metrics) is compiled once in the runtime instead of once per app. Only a
//! small generic shim is compiled with each app: decoding a line into its typed event
//! ([`Codec`], one dynamic call per line) and the loop over a decoded batch
//! ([`DynApp::run_batch`], one dynamic call per batch; the events inside go to the app's
//! `send` directly).

use std::any::Any;
use std::io::Write;
use std::marker::PhantomData;
use std::sync::Arc;

use super::reader::{Batch, Item};
use super::{Clock, RunError, RunStats};
use crate::app::{Application, DecodeError};
use crate::connect::protobuf::ProtoSchema;
use crate::connect::ConnectorDesc;
use crate::functions::now_millis;
use crate::io::{CollectingSink, CountingSink, JsonLinesWriter};

/// The typed events of one batch: a `Vec` of the app's input events, behind `Any` (so the
/// batches that carry them are not generic).
pub(super) struct Events(Box<dyn Any + Send>);

impl Events {
    /// The events as a `Vec<I>` (empty when they are of another type, which the driver
    /// never hands over).
    pub(super) fn take<I: 'static>(self) -> Vec<I> {
        self.0
            .downcast::<Vec<I>>()
            .map_or_else(|_| Vec::new(), |v| *v)
    }
}

/// One typed event of an app behind `Any`: what an `async` pipeline's queue holds per event
/// (its backpressure drops single events), joined into a batch's [`Events`] again.
pub(super) struct One(Box<dyn Any + Send>);

/// Decodes lines into an app's typed events: one object per app, shared by the input
/// thread and every source's decoder thread.
pub(super) trait Codec: Send + Sync {
    /// An empty list of events with room for `capacity`.
    fn events(&self, capacity: usize) -> Events;
    /// Decodes the JSON text `data` of an event of `stream` and appends it to `into`.
    fn decode_into(&self, stream: &str, data: &str, into: &mut Events) -> Result<(), DecodeError>;
    /// Reads a common event line (trimmed) in one pass ([`crate::io::fast::decode_line`])
    /// and appends its event to `into`: its stream and `ts`. `None` (nothing appended) when
    /// the one-pass reader declines: the line is then parsed and decoded the general way.
    fn decode_line<'a>(&self, text: &'a str, into: &mut Events) -> Option<(&'a str, Option<i64>)>;
    /// Reads one message of a source bound to `stream` in one pass
    /// ([`crate::io::fast::decode_message`]) and appends its event to `into`: its `ts`.
    /// `None` (nothing appended) when the one-pass reader declines.
    fn decode_message(&self, stream: &str, text: &str, into: &mut Events) -> Option<Option<i64>>;
    /// Decodes the protobuf stream message `data` of an event of `stream` (the gRPC
    /// service) and appends it to `into`.
    fn decode_proto_into(
        &self,
        stream: &'static crate::connect::protobuf::ProtoStream,
        data: &[u8],
        into: &mut Events,
    ) -> Result<(), DecodeError>;
    /// The events of a batch one by one, in order.
    fn split(&self, events: Events) -> Vec<One>;
    /// Appends `one` to `into`.
    fn push_one(&self, into: &mut Events, one: One);
}

/// The [`Codec`] of `A`.
struct Typed<A>(PhantomData<fn() -> A>);

impl<A: Application> Codec for Typed<A> {
    fn events(&self, capacity: usize) -> Events {
        Events(Box::new(Vec::<A::Input>::with_capacity(capacity)))
    }

    fn decode_into(&self, stream: &str, data: &str, into: &mut Events) -> Result<(), DecodeError> {
        let event = A::decode(stream, data)?;
        match into.0.downcast_mut::<Vec<A::Input>>() {
            Some(list) => {
                list.push(event);
                Ok(())
            }
            None => Err(DecodeError::Data {
                stream: stream.to_owned(),
                message: "internal error: events of another app".to_owned(),
            }),
        }
    }

    #[inline]
    fn decode_line<'a>(&self, text: &'a str, into: &mut Events) -> Option<(&'a str, Option<i64>)> {
        let list = into.0.downcast_mut::<Vec<A::Input>>()?;
        let line = crate::io::fast::decode_line(text, A::fast_decode)?;
        list.push(line.event);
        Some((line.stream, line.ts))
    }

    #[inline]
    fn decode_message(&self, stream: &str, text: &str, into: &mut Events) -> Option<Option<i64>> {
        let list = into.0.downcast_mut::<Vec<A::Input>>()?;
        let (ts, event) = crate::io::fast::decode_message(stream, text, A::fast_decode)?;
        list.push(event);
        Some(ts)
    }

    fn decode_proto_into(
        &self,
        stream: &'static crate::connect::protobuf::ProtoStream,
        data: &[u8],
        into: &mut Events,
    ) -> Result<(), DecodeError> {
        let event = A::decode_proto(
            stream.name,
            crate::connect::protobuf::ProtoData::new(stream, data),
        )?;
        match into.0.downcast_mut::<Vec<A::Input>>() {
            Some(list) => {
                list.push(event);
                Ok(())
            }
            None => Err(DecodeError::Data {
                stream: stream.name.to_owned(),
                message: "internal error: events of another app".to_owned(),
            }),
        }
    }

    fn split(&self, events: Events) -> Vec<One> {
        events
            .take::<A::Input>()
            .into_iter()
            .map(|e| One(Box::new(e)))
            .collect()
    }

    fn push_one(&self, into: &mut Events, one: One) {
        if let (Some(list), Ok(event)) = (
            into.0.downcast_mut::<Vec<A::Input>>(),
            one.0.downcast::<A::Input>(),
        ) {
            list.push(*event);
        }
    }
}

/// What the driver knows of an app without its types (the static side of [`Application`]).
#[derive(Clone)]
pub(super) struct AppInfo {
    pub(super) input_streams: &'static [&'static str],
    pub(super) output_streams: &'static [&'static str],
    pub(super) keeps_state: bool,
    pub(super) sources: &'static [(&'static str, &'static str)],
    pub(super) sinks: &'static [(&'static str, &'static str)],
    pub(super) connectors: &'static [ConnectorDesc],
    pub(super) schema: fn(&str) -> &'static [(&'static str, &'static str)],
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))]
    pub(super) proto_schema: Option<&'static ProtoSchema>,
    #[cfg_attr(not(feature = "scale"), allow(dead_code))]
    pub(super) scalable: bool,
    #[cfg_attr(not(feature = "scale"), allow(dead_code))]
    pub(super) crossing: bool,
    pub(super) codec: Arc<dyn Codec>,
    pub(super) pipelines: &'static [crate::connect::PipelineDesc],
}

impl AppInfo {
    /// The facts of `A`.
    pub(super) fn of<A: Application + 'static>() -> AppInfo {
        AppInfo {
            input_streams: A::input_streams(),
            output_streams: A::output_streams(),
            keeps_state: A::KEEPS_STATE,
            sources: A::sources(),
            sinks: A::sinks(),
            connectors: A::connectors(),
            schema: A::schema,
            proto_schema: A::proto_schema(),
            scalable: A::SCALABLE,
            crossing: A::CROSSING,
            codec: Arc::new(Typed::<A>(PhantomData)),
            pipelines: A::pipelines(),
        }
    }
}

/// A sink as the driver sees it: the JSON-lines writer of a run (flushed, counted and
/// checked for write errors by the driver), or another sink it leaves alone.
pub trait DriverSink {
    /// The JSON-lines writer, when this is one.
    fn json_writer(&mut self) -> Option<&mut JsonLinesWriter> {
        None
    }
}

impl DriverSink for JsonLinesWriter {
    fn json_writer(&mut self) -> Option<&mut JsonLinesWriter> {
        Some(self)
    }
}

impl DriverSink for CollectingSink {}

impl DriverSink for CountingSink {}

/// When the driver ends a run early, checked after every line.
pub(super) enum Stop<'s> {
    /// Never.
    Never,
    /// When the output writer failed or the app failed ([`Application::failure`]).
    Halted,
    /// When the function says so (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    When(&'s mut dyn FnMut(&mut dyn DynApp) -> bool),
}

/// The driver's side of a run, which the app's batch loop updates.
pub(super) struct Core<'a> {
    pub clock: Clock,
    pub strict: bool,
    pub errors: &'a mut dyn Write,
    pub stats: RunStats,
    pub started: bool,
    /// The current time: the last time given to the app.
    pub now: i64,
    /// The line number and byte offset of the last line processed.
    pub at: (u64, u64),
}

impl Core<'_> {
    /// The wall-clock time, never before the time already reached.
    pub fn wall_now(&self) -> i64 {
        now_millis().max(self.now)
    }

    /// The time of an event item (`remote`: from a network source).
    #[inline]
    fn event_ts(&self, ts: Option<i64>, remote: bool) -> i64 {
        match (self.clock, ts) {
            (Clock::Event, Some(ts)) => ts,
            (Clock::Event, None) if !remote => self.now,
            _ => self.wall_now(),
        }
    }

    /// Whether the app must be started (once, before its first event or tick).
    #[inline]
    fn starts(&mut self) -> bool {
        !std::mem::replace(&mut self.started, true)
    }

    fn bad(&mut self, line_no: u64, message: String) -> Result<(), RunError> {
        self.stats.bad_lines += 1;
        if self.strict {
            return Err(RunError::BadLine { line_no, message });
        }
        // Nowhere left to report a failure to report.
        let _ = writeln!(self.errors, "line {line_no}: {message}");
        Ok(())
    }

    /// Every item but an event: `app` gets ticks.
    fn other(&mut self, app: &mut dyn DynApp, item: Item) -> Result<(), RunError> {
        match item {
            Item::Event { .. } | Item::Remote { .. } => {}
            Item::Tick { ts, .. } => {
                if self.clock == Clock::Event {
                    if self.starts() {
                        app.start(ts);
                    }
                    app.advance_time(ts);
                    self.now = ts;
                }
            }
            Item::Bad {
                line_no, message, ..
            } => self.bad(line_no, message)?,
            Item::Mark { cell, position } => cell.processed(position),
            Item::Skipped { .. } => {}
            Item::RemoteBad { message, fatal } => {
                self.stats.bad_lines += 1;
                if fatal {
                    return Err(RunError::SourceFailed(message));
                }
                if self.strict {
                    return Err(RunError::BadLine {
                        line_no: 0,
                        message,
                    });
                }
                let _ = writeln!(self.errors, "{message}");
            }
        }
        Ok(())
    }
}

/// An app behind one object: what the compiled-once driver calls.
pub(super) trait DynApp {
    /// Processes a decoded batch: events, clock lines, bad lines (see [`Core`]); `Ok(true)`
    /// when `stop` ended it early.
    #[doc(hidden)]
    fn run_batch(
        &mut self,
        batch: Batch,
        core: &mut Core<'_>,
        stop: &mut Stop<'_>,
    ) -> Result<bool, RunError>;
    /// [`Application::start`].
    fn start(&mut self, ts: i64);
    /// [`Application::advance_time`].
    fn advance_time(&mut self, ts: i64);
    /// [`Application::next_timer`].
    fn next_timer(&self) -> Option<i64>;
    /// [`Application::clock`].
    fn clock(&self) -> Option<i64>;
    /// [`Application::snapshot`].
    fn snapshot(&self) -> Vec<u8>;
    /// [`Application::restore`].
    fn restore(&mut self, bytes: &[u8]) -> Result<(), crate::state::StateError>;
    /// [`Application::failure`].
    fn failure(&self) -> Option<String>;
    /// The app's JSON-lines writer, when its sink is one.
    fn json_writer(&mut self) -> Option<&mut JsonLinesWriter>;
    /// The app itself (tests downcast it).
    #[cfg(test)]
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<A> DynApp for A
where
    A: Application + 'static,
    A::Sink: DriverSink,
{
    fn run_batch(
        &mut self,
        batch: Batch,
        core: &mut Core<'_>,
        stop: &mut Stop<'_>,
    ) -> Result<bool, RunError> {
        let mut events = batch.events.take::<A::Input>().into_iter();
        for item in batch.items {
            let at = item.position();
            // One call site of the app's `send` (it inlines every query's code).
            let ts = match item {
                Item::Event { ts, .. } => Some(core.event_ts(ts, false)),
                Item::Remote { ts } => Some(core.event_ts(ts, true)),
                other => {
                    core.other(self, other)?;
                    None
                }
            };
            if let Some((ts, event)) = ts.and_then(|ts| Some((ts, events.next()?))) {
                if core.starts() {
                    Application::start(self, ts);
                }
                self.send(ts, event);
                core.now = ts;
                core.stats.events += 1;
            }
            if let Some(at) = at {
                core.at = at;
            }
            let stopped = match stop {
                Stop::Never => false,
                Stop::Halted => {
                    Application::failure(self).is_some()
                        || self
                            .sink_mut()
                            .json_writer()
                            .is_some_and(|w| w.error().is_some())
                }
                Stop::When(f) => f(self),
            };
            if stopped {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn start(&mut self, ts: i64) {
        Application::start(self, ts);
    }

    fn advance_time(&mut self, ts: i64) {
        Application::advance_time(self, ts);
    }

    fn next_timer(&self) -> Option<i64> {
        Application::next_timer(self)
    }

    fn clock(&self) -> Option<i64> {
        Application::clock(self)
    }

    fn snapshot(&self) -> Vec<u8> {
        Application::snapshot(self)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), crate::state::StateError> {
        Application::restore(self, bytes)
    }

    fn failure(&self) -> Option<String> {
        Application::failure(self)
    }

    fn json_writer(&mut self) -> Option<&mut JsonLinesWriter> {
        self.sink_mut().json_writer()
    }

    #[cfg(test)]
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
