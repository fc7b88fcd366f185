//! Reading a runbook file: the path as the user wrote it and its text, kept alive
//! for as long as diagnostics about it are rendered. Every way a file can fail to
//! be text becomes a diagnostic, not an error that stops `validate`.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::diagnostic::{Code, Diagnostic};
use super::node::Span;

/// Files larger than this are not runbooks (nor the settings files `read_setting` and
/// `set_setting` edit, nor the PEM files `http.tls` names); reading them would
/// only waste memory.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// A runbook file's text.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

/// What is said of a file over [`MAX_FILE_BYTES`].
fn too_large() -> Diagnostic {
    Diagnostic::new(
        Code::Unreadable,
        Span::START,
        format!(
            "the file is larger than {} MiB",
            MAX_FILE_BYTES / 1024 / 1024
        ),
    )
    .help("a runbook is a few kilobytes of YAML; split it into child runbooks")
}

/// Reads `path`, or says why it cannot be a runbook.
pub fn read(path: &Path) -> Result<Source, Diagnostic> {
    let start = Span::START;
    let unreadable = |message: String, help: &str| {
        Diagnostic::new(Code::Unreadable, start, message).help(help.to_owned())
    };
    let cannot_open = |e: std::io::Error| {
        unreadable(
            format!("cannot open the file: {e}"),
            "check that the file exists and that you may read it",
        )
    };
    // One `stat` (symlinks followed) says what the path is: opening a FIFO or a
    // device would block or read forever, so only regular files are runbooks.
    let metadata = std::fs::metadata(path).map_err(cannot_open)?;
    if metadata.is_dir() {
        return Err(unreadable(
            "this is a directory, not a runbook file".to_owned(),
            "pass the directory itself to `runbook validate` to check every .yaml file in it",
        ));
    }
    if !metadata.is_file() {
        return Err(unreadable(
            "this is not a regular file".to_owned(),
            "a runbook is a regular YAML file",
        ));
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(too_large());
    }
    let file = std::fs::File::open(path).map_err(cannot_open)?;
    // Sized from the `stat` (plus one byte, to see the end at once), so a runbook
    // is read in one call instead of a probe and a series of growing ones. The
    // limit still holds if the file grows meanwhile.
    let expected = metadata.len().min(MAX_FILE_BYTES) + 1;
    let text = text(file, usize::try_from(expected).unwrap_or(0))?;
    Ok(Source {
        path: path.to_path_buf(),
        text,
    })
}

/// Reads a runbook from standard input (`runbook validate -`), with the checks
/// a file gets; `path` is the name it goes by (`--stdin-filename`), or empty.
pub fn read_stdin(path: &Path) -> Result<Source, Diagnostic> {
    let text = text(std::io::stdin().lock(), 64 * 1024)?;
    Ok(Source {
        path: path.to_path_buf(),
        text,
    })
}

/// The UTF-8 text `reader` holds, or why it is not a runbook's.
fn text(reader: impl Read, capacity: usize) -> Result<String, Diagnostic> {
    let unreadable = |message: String, help: &str| {
        Diagnostic::new(Code::Unreadable, Span::START, message).help(help.to_owned())
    };
    let mut bytes = Vec::with_capacity(capacity);
    reader
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            unreadable(
                format!("cannot read the file: {e}"),
                "check that the file is a regular, readable file",
            )
        })?;
    // A file may have grown since the `stat`; standard input has none.
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large());
    }
    if bytes.contains(&0) {
        return Err(unreadable(
            "the file is binary, not YAML text".to_owned(),
            "runbooks are UTF-8 YAML files",
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        unreadable(
            format!(
                "the file is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
            "save the file as UTF-8",
        )
    })
}
