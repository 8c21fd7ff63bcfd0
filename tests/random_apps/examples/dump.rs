//! Prints generated app `INDEX` of seed `SEED` (and its input with `--input`), to reproduce
//! a failure by hand: `cargo run -q -p eventflux-random-apps --example dump -- SEED INDEX`.

#[path = "../gen.rs"]
#[allow(dead_code)]
mod gen;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| args.get(i).and_then(|a| a.parse::<u64>().ok());
    let (Some(seed), Some(index)) = (num(0), num(1)) else {
        eprintln!("usage: dump SEED INDEX [--input]");
        std::process::exit(2);
    };
    let app = gen::app(seed, index);
    if args.iter().any(|a| a == "--input") {
        print!("{}", app.input);
    } else {
        print!("{}", app.text);
    }
}
