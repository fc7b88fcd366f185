//! The `runbook` binary: everything lives in the library; this only exits.

fn main() {
    std::process::exit(runbook::cli::main());
}
