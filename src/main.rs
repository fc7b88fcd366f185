//! The `runbook` binary: everything lives in the library; this only exits.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(runbook::cli::main());
}
