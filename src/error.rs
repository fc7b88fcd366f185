//! The errors a command can end with, each mapped to its exit code (SPEC §5).
//! Problems *in* a runbook are diagnostics, not errors; these are what stops a
//! command from doing its job at all.

use std::path::PathBuf;

/// Exit code of an invalid runbook, input or usage.
pub const EXIT_USAGE: i32 = 2;

/// Exit code of a command that could not read or write its state (the state
/// directory, a journal, a lock) or could not write its output: the machine
/// failed, not the runbook nor the person typing.
pub const EXIT_IO: i32 = 4;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A path named on the command line does not exist.
    #[error("`{}` does not exist", .0.display())]
    NoSuchPath(PathBuf),

    /// `validate` with no path and no `runbooks/` directory here.
    #[error("there is no `runbooks/` directory here to validate")]
    NoRunbooksDir,

    /// A directory named on the command line holds no runbook file: most likely
    /// a wrong path, which must not pass CI silently.
    #[error("`{}` holds no runbook files (*.yaml, *.yml)", .0.display())]
    NothingToValidate(PathBuf),

    /// `--stdin-filename` names standard input, which is not among the paths.
    #[error("`--stdin-filename` is given, but standard input (`-`) is not among the paths")]
    StdinFilenameWithoutStdin,

    /// Standard input can be read once.
    #[error("standard input (`-`) is named twice")]
    StdinTwice,

    /// `runbook man --dir DIR` could not write its pages.
    #[error("cannot write the man pages into `{}`", dir.display())]
    ManPages {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Writing the output failed (other than a closed pipe, which is not an error).
    #[error("cannot write the output: {0}")]
    Output(#[source] std::io::Error),
}

impl Error {
    /// The exit code of a command that ends with this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::NoSuchPath(_)
            | Error::NoRunbooksDir
            | Error::NothingToValidate(_)
            | Error::StdinFilenameWithoutStdin
            | Error::StdinTwice => EXIT_USAGE,
            Error::Output(_) | Error::ManPages { .. } => EXIT_IO,
        }
    }

    /// What the user can do about it.
    pub fn help(&self) -> Option<&'static str> {
        match self {
            Error::NoSuchPath(_) => {
                Some("check the path; `runbook validate` with no path checks `runbooks/`")
            }
            Error::NoRunbooksDir => {
                Some("run it from the repository root, or name the files or directories to check")
            }
            Error::NothingToValidate(_) => {
                Some("check the path; runbook files end in .yaml or .yml")
            }
            Error::StdinFilenameWithoutStdin => Some(
                "pass `-` to read the runbook from standard input: `runbook validate - --stdin-filename NAME`",
            ),
            Error::StdinTwice => Some("name `-` once"),
            Error::ManPages { .. } => Some("name a directory you can write to"),
            Error::Output(_) => None,
        }
    }
}
