//! `runbook validate`: finds runbook files, checks each one, and renders the
//! diagnostics in the chosen format. Files are checked on `--jobs` threads and
//! handed on in the order one thread would print them (`validate/ordered.rs`); in
//! the streaming formats each is printed as its turn comes, so memory stays flat
//! however many files there are.

mod ordered;

use std::path::{Path, PathBuf};

use crate::document::diagnostic::{Code, Severity};
use crate::document::{self, suppression};
use crate::error::Error;
use crate::output::Output;
use crate::report::{self, FileReport, Totals};

/// Output formats of `validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Github,
    Sarif,
    Junit,
}

/// What `runbook validate` was asked for.
#[derive(Debug, Clone)]
pub struct ValidateOptions {
    /// Files and directories; `-` is standard input. Empty: `runbooks/`.
    pub paths: Vec<PathBuf>,
    pub format: Format,
    /// Warnings fail too.
    pub deny_warnings: bool,
    /// The name standard input goes by in diagnostics, and the path it is
    /// checked as (its children resolve beside it, its id matches its stem).
    pub stdin_filename: Option<PathBuf>,
    /// Warnings accepted in every file (`--ignore CODE`).
    pub ignore: Vec<Code>,
    /// Files checked at once; the output is the same whatever the number.
    pub jobs: usize,
}

/// The path that stands for standard input.
const STDIN: &str = "-";

/// What a `--ignore` value means: a warning's code. An unknown code or an
/// error's is refused, as a usage error: it would accept nothing.
pub fn parse_ignored(text: &str) -> Result<Code, String> {
    match Code::parse(text) {
        Some(code) if code.severity() == Severity::Warning => Ok(code),
        Some(code) => Err(format!(
            "{code} is an error, and errors cannot be ignored: fix the problem instead"
        )),
        None => Err(format!(
            "`{text}` is not a diagnostic code (they are written RB024; the README's table of diagnostics lists them)"
        )),
    }
}

/// Validates the paths (default `runbooks/`) and returns the exit code: 0 clean,
/// 1 problems found (warnings count only with `deny_warnings`).
pub fn run(options: &ValidateOptions, out: &mut Output) -> Result<i32, Error> {
    let ValidateOptions {
        paths,
        format,
        deny_warnings,
        ..
    } = options;
    let (format, deny_warnings) = (*format, *deny_warnings);
    let stdin = Path::new(STDIN);
    if options.stdin_filename.is_some() && !paths.iter().any(|p| p == stdin) {
        return Err(Error::StdinFilenameWithoutStdin);
    }
    if paths.iter().filter(|p| *p == stdin).count() > 1 {
        return Err(Error::StdinTwice);
    }
    let roots = if paths.is_empty() {
        let default = PathBuf::from("runbooks");
        if !default.is_dir() {
            return Err(Error::NoRunbooksDir);
        }
        vec![default]
    } else {
        paths.clone()
    };
    for root in roots.iter().filter(|root| *root != stdin) {
        if std::fs::symlink_metadata(root).is_err() {
            return Err(Error::NoSuchPath(root.clone()));
        }
    }
    let mut found = Vec::new();
    for root in &roots {
        if root == stdin {
            found.push(root.clone());
            continue;
        }
        let files = files(root);
        if files.is_empty() {
            return Err(Error::NothingToValidate(root.clone()));
        }
        found.extend(files);
    }
    let mut totals = Totals::default();
    let mut kept = Vec::new();
    out.batch_unless_terminal();
    if format == Format::Json {
        out.write(&report::json::header())?;
    }
    let mut sarif = match format {
        Format::Sarif => Some(report::sarif::Stream::start(out)?),
        Format::Human | Format::Json | Format::Github | Format::Junit => None,
    };
    let color = out.color();
    let work = |file: &PathBuf| check_file(file, options, color);
    ordered::map_in_order(&found, options.jobs, work, |(report, shown)| {
        if let Some(shown) = shown {
            out.write(&shown)?;
        }
        totals.add(&report);
        match format {
            // JSON is written file by file, so memory stays flat however many files.
            Format::Json => out.write(&report::json::file(&report, totals.files == 1))?,
            // SARIF too, but for its results: see `report/sarif.rs`.
            Format::Sarif => {
                if let Some(sarif) = &mut sarif {
                    sarif.file(&report, out)?;
                }
            }
            Format::Junit => kept.push(report),
            Format::Human | Format::Github => {}
        }
        Ok::<(), Error>(())
    })?;
    match format {
        Format::Human => {
            let summary = report::human::summary(totals);
            out.line(&summary)?;
        }
        Format::Github => {}
        Format::Json => out.line(&report::json::footer(totals))?,
        Format::Sarif => {
            if let Some(sarif) = sarif {
                sarif.finish(out)?;
            }
        }
        Format::Junit => out.write(&report::junit::render(&kept, totals))?,
    }
    out.flush()?;
    let failed = totals.errors > 0 || (deny_warnings && totals.warnings > 0);
    Ok(i32::from(failed))
}

/// Checks one file: its report, and what the human and GitHub formats print for
/// it (rendered here, on the worker, since rendering is part of the work).
fn check_file(path: &Path, options: &ValidateOptions, color: bool) -> (FileReport, Option<String>) {
    let format = options.format;
    let (shown, source) = if path == Path::new(STDIN) {
        // Without a name, standard input has no stem to match its id against
        // and no directory but this one for its children.
        let name = options.stdin_filename.as_deref();
        (
            name.map_or_else(|| "<stdin>".to_owned(), |n| n.display().to_string()),
            document::source::read_stdin(name.unwrap_or(Path::new(""))),
        )
    } else {
        (path.display().to_string(), document::source::read(path))
    };
    let (text, checked) = match source {
        Ok(source) => {
            let checked = document::check(&source.path, &source.text);
            (Some(source.text), checked)
        }
        Err(diagnostic) => (
            None,
            document::Checked {
                runbook: None,
                diagnostics: vec![diagnostic],
            },
        ),
    };
    let (diagnostics, suppressed) =
        suppression::apply(text.as_deref(), checked.diagnostics, &options.ignore);
    let report = FileReport {
        path: shown,
        runbook: checked
            .runbook
            .map(|r| r.id.value)
            .filter(|id| !id.is_empty()),
        diagnostics,
        suppressed,
    };
    let shown = match format {
        Format::Human if !report.diagnostics.is_empty() => {
            // A literal secret in the file must not be echoed again in the snippet,
            // nor a token in a comment on a line that is shown.
            let text = text.map(|text| document::shown_text(&text, &report.diagnostics));
            Some(report::human::render(
                &report.path,
                text.as_deref(),
                &report.diagnostics,
                color,
            ))
        }
        Format::Github => Some(report::github::render(&report)),
        Format::Human | Format::Json | Format::Sarif | Format::Junit => None,
    };
    (report, shown)
}

/// The runbook files under `root`: the file itself, or every `.yaml`/`.yml` file
/// below a directory, sorted, skipping hidden directories (such as `.runbook/`
/// state). A file named explicitly is checked whatever its extension.
pub fn files(root: &Path) -> Vec<PathBuf> {
    if !root.is_dir() {
        return vec![root.to_path_buf()];
    }
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    // Directories already walked, by their real path: a symlink back up the
    // tree must not make a file count twice (or forever).
    let mut walked = std::collections::HashSet::new();
    while let Some(dir) = pending.pop() {
        if !walked.insert(dir.canonicalize().unwrap_or_else(|_| dir.clone())) {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            // An unreadable directory is reported as a file that cannot be read.
            found.push(dir);
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            // The entry's own type costs no `stat`; only a symlink is followed
            // to see what it points at.
            let is_dir = match entry.file_type() {
                Ok(kind) if kind.is_symlink() => path.is_dir(),
                Ok(kind) => kind.is_dir(),
                Err(_) => path.is_dir(),
            };
            if is_dir {
                pending.push(path);
            } else if is_yaml(&path) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn is_yaml(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}
