//! Embedding an EventFlux app with the `eventflux!` macro: typed events in, typed events out.
//!
//! Run with `cargo run --example embedded`.

mod alerts {
    eventflux::eventflux!(
        r#"
        CREATE STREAM Readings (sensor STRING, celsius DOUBLE);
        INSERT INTO Hot
        SELECT sensor, celsius * 9 / 5 + 32 AS fahrenheit
        FROM Readings
        WHERE celsius > 30.0;
        "#
    );
}

use alerts::{App, Hot, Output, Readings};
use eventflux::runtime::EventKind;

/// Collects alerts in a vector.
#[derive(Default)]
struct Alerts(Vec<Hot>);

impl Output for Alerts {
    fn on_hot(&mut self, _ts: i64, _kind: EventKind, event: &Hot) {
        self.0.push(event.clone());
    }
}

fn main() {
    let mut app = App::new(Alerts::default());
    for (ts, sensor, celsius) in [(1, "a", 25.0), (2, "b", 35.0), (3, "c", 40.0)] {
        app.send_readings(
            ts,
            Readings {
                sensor: Some(sensor.into()),
                celsius: Some(celsius),
            },
        );
    }
    for hot in &app.output().0 {
        println!("{:?} is hot: {:?} F", hot.sensor, hot.fahrenheit);
    }
    assert_eq!(app.output().0.len(), 2);
}
