//! An app compiled by build.rs (`eventflux_compiler::configure()`) and pulled in with
//! `eventflux::include_app!`.

mod app {
    eventflux::include_app!("app");
}

use eventflux::runtime::io::CollectingSink;

/// Runs three orders through the app and returns the flagged lines.
fn flagged() -> Vec<String> {
    let mut app = app::App::new(CollectingSink::default());
    let orders = [(1, 50.0, "DE"), (2, 5000.0, "FR"), (3, 10.0, "XX")];
    for (id, amount, country) in orders {
        let order = app::Orders {
            id,
            amount: Some(amount),
            country: Some(country.into()),
        };
        app.send_orders(id * 1000, order);
    }
    std::mem::take(&mut app.output_mut().lines)
}

fn main() {
    for line in flagged() {
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn flags_large_and_listed_orders() {
        let lines = super::flagged();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].contains(r#""id":2"#));
        assert!(lines[1].contains(r#""country":"XX""#));
    }
}
