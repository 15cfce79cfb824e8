//! `kv-bench [--quick] [--only NAME] [--report FILE] [--charts DIR] [--charts-link PREFIX]
//! [--data-dir DIR] [--command TEXT]`: runs the benchmarks and writes the report.
//! Usually started by `cargo xtask bench`. `kv-bench --fill-child CONTENDER THREADS N`
//! is how it runs each timed fill in a child process.

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(kv_bench::FILL_CHILD) {
        // One timed fill, in a process of its own (see the fill workload).
        return kv_bench::fill_child(&args[1..]);
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{}", kv_bench::usage());
        return Ok(());
    }
    let opts = kv_bench::Options::parse(&args)?;
    kv_bench::run(&opts)?;
    Ok(())
}
