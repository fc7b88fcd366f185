//! What shells and `man` read, generated from the command line's own clap
//! definitions so they never drift from it: `runbook completions SHELL`
//! (`clap_complete`) and `runbook man` (`clap_mangen`, one page per command).

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::output::Output;

/// The shells `runbook completions` writes a script for.
pub use clap_complete::Shell;

/// Writes the completion script for `shell` to `out`.
pub fn completions(
    shell: Shell,
    mut command: clap::Command,
    out: &mut Output,
) -> Result<(), Error> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "runbook", &mut script);
    out.write(&String::from_utf8_lossy(&script))
}

/// Writes `runbook(1)` to `out`, or, with `dir`, a page per command into it
/// (`runbook.1`, `runbook-validate.1`, …) and their names to `out`.
pub fn pages(command: clap::Command, dir: Option<&Path>, out: &mut Output) -> Result<(), Error> {
    let Some(dir) = dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(command)
            .render(&mut page)
            .map_err(Error::Output)?;
        return out.write(&String::from_utf8_lossy(&page));
    };
    let failed = |source| Error::ManPages {
        dir: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(failed)?;
    clap_mangen::generate_to(command, dir).map_err(failed)?;
    let mut written: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(failed)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("runbook") && name.ends_with(".1"))
        })
        .collect();
    written.sort();
    for path in written {
        out.line(&path.display().to_string())?;
    }
    Ok(())
}
