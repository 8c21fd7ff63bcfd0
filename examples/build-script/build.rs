fn main() -> Result<(), Box<dyn std::error::Error>> {
    eventflux_compiler::configure().compile(&["queries/app.eventflux"])?;
    Ok(())
}
