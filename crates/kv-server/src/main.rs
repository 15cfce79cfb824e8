//! `kv-server`: see `kv-server --help` and the crate documentation.

fn main() -> std::process::ExitCode {
    kv_server::run_cli(std::env::args_os())
}
