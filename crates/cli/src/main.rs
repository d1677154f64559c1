//! `wasio`: see `wasio help`.

fn main() {
    std::process::exit(wasio_cli::run(std::env::args().skip(1)));
}
