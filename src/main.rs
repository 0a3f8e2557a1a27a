//! The `openpace` binary: a dispatcher over the subcommands in `cli/`.

#![deny(unsafe_code)]

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
