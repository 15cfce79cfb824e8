//! The `kv` binary: parses the command line and runs it (see the `kv_cli` crate).

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(kv_cli::run(std::env::args_os()))
}
