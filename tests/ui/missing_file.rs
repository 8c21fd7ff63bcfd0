mod app {
    eventflux::eventflux!(file = "tests/ui/no_such_app.eventflux");
}

fn main() {}
