mod app {
    eventflux::eventflux!(
        r#"
        CREATE STREAM Trades (symbol STRING, price DOUBLE);
        INSERT INTO Out SELECT symbol FROM Trades WHERE;
        "#
    );
}

fn main() {}
