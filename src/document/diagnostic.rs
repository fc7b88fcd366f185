//! One problem found in a runbook file: a stable code, a severity, the span of the
//! node at fault, a message and a help line. Every output format (`report/`) renders
//! this one model.

use std::fmt;

use super::node::Span;

mod suggestions;
pub use suggestions::Suggestions;

/// How bad a problem is. Errors fail `validate`; warnings fail it only with
/// `--deny-warnings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! codes {
    ($($variant:ident = $code:literal, $severity:ident, $title:literal;)*) => {
        /// The stable diagnostic codes. A code, once published, keeps its meaning:
        /// users filter on them in CI and SARIF viewers group by them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $($variant,)*
        }

        impl Code {
            /// Every code, in numeric order (SARIF lists them as rules).
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// `RB001`, …
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $code,)*
                }
            }

            /// The code written `RB024` (any case), if there is one.
            pub fn parse(text: &str) -> Option<Code> {
                Code::ALL
                    .iter()
                    .copied()
                    .find(|code| code.as_str().eq_ignore_ascii_case(text))
            }

            /// The severity every diagnostic of this code has.
            pub fn severity(self) -> Severity {
                match self {
                    $(Code::$variant => Severity::$severity,)*
                }
            }

            /// A short name of the rule, for rule listings.
            pub fn title(self) -> &'static str {
                match self {
                    $(Code::$variant => $title,)*
                }
            }
        }
    };
}

codes! {
    YamlSyntax = "RB001", Error, "YAML syntax error";
    Unreadable = "RB002", Error, "file cannot be read as a runbook";
    WrongType = "RB003", Error, "value of the wrong type";
    UnknownKey = "RB004", Error, "unknown key";
    MissingKey = "RB005", Error, "required key missing";
    InvalidId = "RB006", Error, "invalid id";
    DuplicateId = "RB007", Error, "duplicate step id";
    NoAction = "RB008", Error, "step without an action";
    TwoActions = "RB009", Error, "step with more than one action";
    UnknownNeed = "RB010", Error, "needs names an unknown step";
    LaterNeed = "RB011", Error, "needs names a step that has not run yet";
    InvalidDuration = "RB012", Error, "invalid duration";
    TemplateSyntax = "RB013", Error, "template syntax error";
    UnknownInput = "RB014", Error, "template references an unknown input or variable";
    UnknownStepRef = "RB015", Error, "template references an unknown or later step";
    UndeclaredEffect = "RB016", Error, "command without a declared effect";
    IrreversibleWithoutConfirm = "RB017", Error, "irreversible step without confirm";
    NoEvidence = "RB018", Error, "irreversible step without evidence";
    UnverifiedChange = "RB019", Error, "change not verified before an irreversible step";
    ChildNotFound = "RB020", Error, "child runbook not found";
    IncludeCycle = "RB021", Error, "child runbooks form a cycle";
    LiteralSecret = "RB022", Error, "literal secret in the file";
    PlainHttp = "RB023", Warning, "plain http:// to a non-loopback host";
    UnusedInput = "RB024", Warning, "input never used";
    IdMismatch = "RB025", Warning, "runbook id does not match the file name";
    InvalidValue = "RB026", Error, "invalid value";
    DuplicateKey = "RB027", Error, "duplicate key";
    BadRestore = "RB028", Error, "restore_setting does not name a set_setting step";
    MisplacedField = "RB029", Error, "field not allowed with this action";
    UnknownResult = "RB030", Error, "template reads a result the step does not produce";
    ChildInvalid = "RB031", Error, "child runbook is invalid";
    RetryIrreversible = "RB032", Error, "retry on an irreversible step";
    TemplateTooCostly = "RB033", Error, "template does more work than a template may";
    ControlCharacter = "RB034", Warning, "control character in a string";
    EffectLowered = "RB035", Error, "declared effect lower than the action's";
    FanOutOnlyEvidence = "RB036", Warning, "a fan-out is the only evidence for an irreversible step";
    EmptyCheck = "RB040", Error, "a check that checks nothing";
    ContradictoryCheck = "RB041", Error, "text checks that can never all hold";
    NotifyMisplaced = "RB042", Error, "effect notify on a step that cannot notify";
    SettingForm = "RB043", Error, "set_setting mixes one key and several";
    FileSource = "RB044", Error, "write_file without exactly one of content and from";
    BadRestoreFile = "RB045", Error, "restore_file does not name a write_file step";
    BadGenerator = "RB046", Error, "generate_secret cannot draw a secret";
    WeakSecret = "RB047", Warning, "generated secret weaker than 64 bits";
    BadSuppression = "RB050", Warning, "ignore comment with an unknown or unignorable code";
    UnknownCall = "RB055", Error, "unknown filter or test";
    SecretOnCommandLine = "RB056", Warning, "secret written into a command line";
    AnswerShadowsInput = "RB057", Error, "a step answered by its id has an input's name";
    UnknownChildInput = "RB070", Error, "with names an input the child runbook does not declare";
    ChildInputNotPassed = "RB071", Warning, "a fan-out child's required input is not passed in with";
    ForEachShape = "RB072", Error, "for_each that cannot give items";
    UnknownItemField = "RB073", Error, "item field that the for_each product does not have";
    UnknownChildOutput = "RB074", Error, "output the child runbook does not declare";
    BadTlsFile = "RB075", Error, "TLS file that is not what its key says";
    MissingTlsFile = "RB076", Warning, "TLS file that does not exist";
    TlsKeyPair = "RB077", Error, "client certificate without its key, or key without certificate";
    BadResolve = "RB078", Error, "resolve entry that cannot be used";
    TlsMisplaced = "RB079", Error, "TLS setting or check where there is no TLS";
    ApprovalCount = "RB080", Error, "approve.count outside 1 to the number of approvers";
    ApproverList = "RB081", Error, "approve.from empty, or with a name that is blank, invalid or given twice";
    ApprovalOfNothing = "RB082", Warning, "approve on a step that changes nothing";
    ApprovalInRollback = "RB083", Error, "approve on a rollback step";
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A problem at a place in a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub span: Span,
    pub message: String,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: code.severity(),
            span,
            message: message.into(),
            help: None,
        }
    }

    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// The closest candidate to a misspelt name, if one is close enough to suggest.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let length = name.chars().count();
    let limit = (length / 3).clamp(1, 3);
    candidates
        .into_iter()
        // The distance is at least the difference in length: skip the far ones
        // without measuring.
        .filter(|candidate| candidate.chars().count().abs_diff(length) <= limit)
        .map(|candidate| (strsim::damerau_levenshtein(name, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_in_order() {
        // Ranges of codes are handed out ahead of use, so numbers may be skipped;
        // none is used twice, and `ALL` lists them in order.
        let numbers: Vec<u32> = Code::ALL
            .iter()
            .map(|code| code.as_str()[2..].parse().unwrap())
            .collect();
        assert_eq!(numbers[0], 1);
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
    }

    #[test]
    fn parses_a_code_as_written() {
        assert_eq!(Code::parse("RB024"), Some(Code::UnusedInput));
        assert_eq!(Code::parse("rb024"), Some(Code::UnusedInput));
        assert_eq!(Code::parse("RB999"), None);
        assert_eq!(Code::parse("RB24"), None);
    }

    #[test]
    fn the_readme_documents_every_code() {
        let readme = include_str!("../../README.md");
        for code in Code::ALL {
            let row = format!("| {} | {} |", code.as_str(), code.severity());
            assert!(
                readme.contains(&row),
                "README.md lacks the row for {code}: `{row}`"
            );
        }
    }

    #[test]
    fn suggests_close_names_only() {
        let keys = ["needs", "when", "effect"];
        assert_eq!(did_you_mean("nedds", keys), Some("needs"));
        assert_eq!(did_you_mean("efect", keys), Some("effect"));
        assert_eq!(did_you_mean("banana", keys), None);
    }
}
