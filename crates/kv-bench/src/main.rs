//! `kv-bench [--quick] [--only NAME] [--report FILE] [--charts DIR] [--charts-link PREFIX]
//! [--data-dir DIR] [--command TEXT]`: runs the benchmarks and writes the report.
//! Usually started by `cargo xtask bench`.

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = kv_bench::Options::parse(&args)?;
    kv_bench::run(&opts)?;
    Ok(())
}
