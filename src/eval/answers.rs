//! Where answers come from before anybody is asked: `--set NAME=VALUE`, an
//! `--answers FILE` (YAML `name: value`), and `RUNBOOK_INPUT_<NAME>` environment
//! variables, in that order of precedence. Both inputs and `prompt` steps (under
//! their step id) are answered this way. A child runbook's answers have one
//! layer above them all: the values its parent step gives in `with:`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::document::node::{self, Value};

/// Where a value came from, as the journal and messages say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Set,
    AnswersFile,
    Environment,
    Default,
    Operator,
    /// The parent step's `with:`.
    With,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Set => "--set",
            Source::AnswersFile => "answers file",
            Source::Environment => "environment",
            Source::Default => "default",
            Source::Operator => "operator",
            Source::With => "with",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A problem with the answers given on the command line or in a file. Messages
/// never contain a value: it may be a secret.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("`--set {0}` has no `=`: write `--set NAME=VALUE`")]
    SetSyntax(String),
    #[error("cannot read the answers file `{}`: {source}", path.display())]
    AnswersUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the answers file `{}` is not valid: {reason}", path.display())]
    AnswersInvalid { path: PathBuf, reason: String },
    #[error("`{name}` is given twice on the command line")]
    SetTwice { name: String },
}

/// The answers given before the run starts.
#[derive(Debug, Clone, Default)]
pub struct Answers {
    /// A child's inputs given by its parent's `with:`: value, and whether a
    /// secret went into it (then it is a secret in the child too).
    given: BTreeMap<String, (String, bool)>,
    sets: BTreeMap<String, String>,
    file: BTreeMap<String, String>,
    env: BTreeMap<String, String>,
}

/// The environment variable that answers `name`: `RUNBOOK_INPUT_NEW_TOKEN`.
pub fn env_var(name: &str) -> String {
    format!("RUNBOOK_INPUT_{}", name.to_ascii_uppercase())
}

impl Answers {
    /// Reads `--set` arguments, the answers file and the process environment.
    pub fn load(sets: &[String], answers_file: Option<&Path>) -> Result<Answers, AnswerError> {
        let env = std::env::vars()
            .filter_map(|(key, value)| {
                let name = key.strip_prefix("RUNBOOK_INPUT_")?;
                Some((name.to_ascii_lowercase(), value))
            })
            .collect();
        Self::from_parts(sets, answers_file, env)
    }

    /// As [`Answers::load`], with the environment given (for tests).
    pub fn from_parts(
        sets: &[String],
        answers_file: Option<&Path>,
        env: BTreeMap<String, String>,
    ) -> Result<Answers, AnswerError> {
        let mut answers = Answers {
            env,
            ..Answers::default()
        };
        for set in sets {
            let Some((name, value)) = set.split_once('=') else {
                // Only the name part is echoed: a value without `=` is still a value.
                let name: String = set
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                return Err(AnswerError::SetSyntax(name));
            };
            let name = name.trim().to_owned();
            if answers
                .sets
                .insert(name.clone(), value.to_owned())
                .is_some()
            {
                return Err(AnswerError::SetTwice { name });
            }
        }
        if let Some(path) = answers_file {
            answers.file = read_answers_file(path)?;
        }
        Ok(answers)
    }

    /// These answers for a child run, with the values its parent's `with:`
    /// gives above every other layer (`--set` of the same name does not reach it).
    #[must_use]
    pub fn with_given(&self, given: BTreeMap<String, (String, bool)>) -> Answers {
        Answers {
            given,
            ..self.clone()
        }
    }

    /// Whether `name` is given by `with:` from a secret.
    pub fn given_secret(&self, name: &str) -> bool {
        self.given.get(name).is_some_and(|(_, secret)| *secret)
    }

    /// The answer for `name`, by precedence: `with:`, `--set`, the answers file,
    /// the environment.
    pub fn get(&self, name: &str) -> Option<(&str, Source)> {
        self.given
            .get(name)
            .map(|(v, _)| (v.as_str(), Source::With))
            .or_else(|| self.sets.get(name).map(|v| (v.as_str(), Source::Set)))
            .or_else(|| {
                self.file
                    .get(name)
                    .map(|v| (v.as_str(), Source::AnswersFile))
            })
            .or_else(|| {
                self.env
                    .get(name)
                    .map(|v| (v.as_str(), Source::Environment))
            })
    }

    /// Names given with `--set` or in the answers file (the environment may hold
    /// variables for other runbooks, so it is not checked for unknown names).
    pub fn explicit_names(&self) -> impl Iterator<Item = (&str, Source)> {
        self.sets
            .keys()
            .map(|k| (k.as_str(), Source::Set))
            .chain(self.file.keys().map(|k| (k.as_str(), Source::AnswersFile)))
    }
}

fn read_answers_file(path: &Path) -> Result<BTreeMap<String, String>, AnswerError> {
    let text = std::fs::read_to_string(path).map_err(|source| AnswerError::AnswersUnreadable {
        path: path.to_path_buf(),
        source,
    })?;
    let invalid = |reason: String| AnswerError::AnswersInvalid {
        path: path.to_path_buf(),
        reason,
    };
    // Parse errors from the YAML parser may quote the offending text; only its
    // position is reported, since the file may hold secrets.
    let root = node::parse(&text).map_err(|e| {
        invalid(format!(
            "YAML syntax error at line {}, column {}",
            e.span.line, e.span.col
        ))
    })?;
    let entries = match root.value {
        Value::Map(entries) => entries,
        Value::Null => Vec::new(),
        _ => {
            return Err(invalid(
                "it must be a map of `name: value` lines".to_owned(),
            ));
        }
    };
    let mut answers = BTreeMap::new();
    for (key, value) in entries {
        let Value::Str(name) = key.value else {
            return Err(invalid(format!(
                "line {}: names must be strings",
                key.span.line
            )));
        };
        let value = match value.value {
            Value::Str(s) => s,
            Value::Int(n) => n.to_string(),
            Value::Float(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                return Err(invalid(format!(
                    "line {}: the answer to `{name}` must be a single value",
                    value.span.line
                )));
            }
        };
        if answers.insert(name.clone(), value).is_some() {
            return Err(invalid(format!("`{name}` is answered twice")));
        }
    }
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_beats_file_beats_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("answers.yaml");
        std::fs::write(&file, "a: from-file\nb: from-file\nport: 8080\n").unwrap();
        let env = BTreeMap::from([
            ("a".to_owned(), "env".to_owned()),
            ("c".to_owned(), "env".to_owned()),
        ]);
        let answers =
            Answers::from_parts(&["a=set=with=equals".to_owned()], Some(&file), env).unwrap();
        assert_eq!(answers.get("a"), Some(("set=with=equals", Source::Set)));
        assert_eq!(answers.get("b"), Some(("from-file", Source::AnswersFile)));
        assert_eq!(answers.get("c"), Some(("env", Source::Environment)));
        assert_eq!(answers.get("port"), Some(("8080", Source::AnswersFile)));
        assert_eq!(answers.get("d"), None);
    }

    #[test]
    fn bad_answers_are_clear_errors_without_values() {
        let err = Answers::from_parts(&["novalue".to_owned()], None, BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("--set NAME=VALUE"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("answers.yaml");
        std::fs::write(&file, "token: [\"s3cr3t-value\"\n").unwrap();
        let err = Answers::from_parts(&[], Some(&file), BTreeMap::new()).unwrap_err();
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
        let missing =
            Answers::from_parts(&[], Some(&dir.path().join("nope.yaml")), BTreeMap::new());
        assert!(matches!(
            missing,
            Err(AnswerError::AnswersUnreadable { .. })
        ));
    }

    #[test]
    fn environment_names_are_upper_case() {
        assert_eq!(env_var("new_token"), "RUNBOOK_INPUT_NEW_TOKEN");
    }
}
