use std::process::ExitCode;

fn main() -> ExitCode {
    pulsekey_server::cli::main()
}
