//! Reading a runbook file: the path as the user wrote it and its text, kept alive
//! for as long as diagnostics about it are rendered. Every way a file can fail to
//! be text becomes a diagnostic, not an error that stops `validate`.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::diagnostic::{Code, Diagnostic};
use super::node::Span;

/// Files larger than this are not runbooks; reading them would only waste memory.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// A runbook file's text.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

/// Reads `path`, or says why it cannot be a runbook.
pub fn read(path: &Path) -> Result<Source, Diagnostic> {
    let start = Span::START;
    let unreadable = |message: String, help: &str| {
        Diagnostic::new(Code::Unreadable, start, message).help(help.to_owned())
    };
    if path.is_dir() {
        return Err(unreadable(
            "this is a directory, not a runbook file".to_owned(),
            "pass the directory itself to `runbook validate` to check every .yaml file in it",
        ));
    }
    // Opening a FIFO or a device would block or read forever: only regular files
    // (symlinks followed) are runbooks.
    if let Ok(metadata) = std::fs::metadata(path)
        && !metadata.is_file()
    {
        return Err(unreadable(
            "this is not a regular file".to_owned(),
            "a runbook is a regular YAML file",
        ));
    }
    let file = std::fs::File::open(path).map_err(|e| {
        unreadable(
            format!("cannot open the file: {e}"),
            "check that the file exists and that you may read it",
        )
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            unreadable(
                format!("cannot read the file: {e}"),
                "check that the file is a regular, readable file",
            )
        })?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(unreadable(
            format!(
                "the file is larger than {} MiB",
                MAX_FILE_BYTES / 1024 / 1024
            ),
            "a runbook is a few kilobytes of YAML; split it into child runbooks",
        ));
    }
    if bytes.contains(&0) {
        return Err(unreadable(
            "the file is binary, not YAML text".to_owned(),
            "runbooks are UTF-8 YAML files",
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        unreadable(
            format!(
                "the file is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
            "save the file as UTF-8",
        )
    })?;
    Ok(Source {
        path: path.to_path_buf(),
        text,
    })
}
