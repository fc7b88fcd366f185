//! `runbook plan`: an honest dry run. A runbook and the answers known now become
//! a [`Plan`] — every step in execution order with its effect, its resolved
//! target, its gates, confirms and the rollback — without making a request,
//! writing a file or running a process. Values the run will produce show as
//! `‹steps.x.value›`; secrets are masked.
//!
//! `--probe` also sends the plan's read-only requests (`probe` steps: HTTP GET
//! and HEAD, `wait_for` over HTTP) and shows what came back. `--out` writes a
//! plan artifact (`artifact.rs`) that `run --plan` checks, so what was reviewed
//! is what runs.
//!
//! The [`Plan`] is one model with three renderers: `human.rs`, `markdown.rs`,
//! and JSON (its `Serialize`, documented in the README).

pub mod artifact;
pub mod human;
pub mod markdown;
pub mod planner;
pub mod probe;
pub mod render;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::eval::{answers, inputs};
use crate::output::Output;

/// The version of the JSON plan and of the plan artifact. It changes only when a
/// field changes meaning or goes away; new fields may appear within a version.
pub const VERSION: u32 = 1;

/// Output formats of `plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For a terminal; irreversible steps stand out.
    Human,
    /// A checklist to paste into a pull request or a change ticket.
    Markdown,
    /// For tools; stable and documented (`"version": 1`).
    Json,
}

/// What `runbook plan` was asked for.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub file: PathBuf,
    pub sets: Vec<String>,
    pub answers_file: Option<PathBuf>,
    pub format: Format,
    pub probe: bool,
    pub out: Option<PathBuf>,
}

/// Why a plan could not be written, or why `run --plan` refuses: exit code 2,
/// or 4 when the plan or the artifact could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("cannot write the plan artifact `{}`: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Output(#[from] crate::error::Error),
    #[error("cannot read the plan `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{}` is not a plan artifact this runbook can check: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("the plan `{}` is for the runbook `{planned}`, not `{running}`", path.display())]
    OtherRunbook {
        path: PathBuf,
        planned: String,
        running: String,
    },
    #[error("what would run is not what the plan `{}` shows: {}", path.display(), changes.join("; "))]
    Changed { path: PathBuf, changes: Vec<String> },
    #[error("cannot start the HTTP client for --probe: {0}")]
    Probe(String),
    #[error(transparent)]
    Load(#[from] crate::eval::LoadError),
    #[error(transparent)]
    Answers(#[from] answers::AnswerError),
    #[error(transparent)]
    Inputs(#[from] inputs::InputError),
}

impl PlanError {
    pub fn exit_code(&self) -> i32 {
        match self {
            PlanError::Write { .. } => crate::error::EXIT_IO,
            PlanError::Output(e) => e.exit_code(),
            PlanError::Read { .. }
            | PlanError::Invalid { .. }
            | PlanError::OtherRunbook { .. }
            | PlanError::Changed { .. }
            | PlanError::Probe(_)
            | PlanError::Load(_)
            | PlanError::Answers(_)
            | PlanError::Inputs(_) => crate::error::EXIT_USAGE,
        }
    }

    /// The invalid runbook, whose diagnostics are shown before the error line.
    pub fn invalid(&self) -> Option<&crate::eval::LoadError> {
        match self {
            PlanError::Load(error @ crate::eval::LoadError::Invalid { .. }) => Some(error),
            _ => None,
        }
    }

    pub fn help(&self) -> Option<String> {
        match self {
            PlanError::Write { .. } => Some("choose a path in a directory you can write to".to_owned()),
            PlanError::Invalid { .. } | PlanError::Read { .. } => Some(
                "give the file `runbook plan FILE --out PLAN.json` wrote".to_owned(),
            ),
            PlanError::OtherRunbook { .. } => Some("give the plan made for this runbook".to_owned()),
            PlanError::Changed { .. } => Some(
                "have the new plan reviewed (`runbook plan FILE --out PLAN.json`), or run with what the plan was made with".to_owned(),
            ),
            PlanError::Output(e) => e.help().map(str::to_owned),
            PlanError::Probe(_) | PlanError::Answers(_) => None,
            PlanError::Load(e) => e.help(),
            PlanError::Inputs(e) => Some(e.help()),
        }
    }
}

/// A runbook as it would run, before it runs.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub version: u32,
    /// The runbook id.
    pub runbook: String,
    /// The title, or the id when there is none.
    pub title: String,
    pub description: Option<String>,
    /// The file as named on the command line (or, for a child, as its parent
    /// resolves it).
    pub file: String,
    pub owner: Option<String>,
    pub priority: Option<String>,
    pub estimate: Option<String>,
    pub guide: Option<String>,
    /// Whether the steps are grouped in phases.
    pub checklist: bool,
    /// Whether `--probe` sent the read-only requests.
    pub probed: bool,
    pub inputs: Vec<PlannedInput>,
    pub phases: Vec<PlannedPhase>,
    /// Runs only after a failed step, each step when its `when` holds.
    pub rollback: Vec<PlannedStep>,
    pub summary: Summary,
    /// What the plan could not look into (an unreadable child runbook, …).
    pub problems: Vec<String>,
}

/// An input and what is known of it now.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedInput {
    pub name: String,
    pub description: Option<String>,
    pub secret: bool,
    /// The value as shown (a secret masked); `None` when it is not known yet.
    pub value: Option<String>,
    /// `--set`, `answers file`, `environment`, `default`, or `with` (a child's
    /// input its parent step gives); `None` when not given.
    pub source: Option<String>,
}

/// A phase of a checklist; a runbook written with `steps:` has one, without id.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedPhase {
    pub id: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub steps: Vec<PlannedStep>,
}

/// One step as it would run.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedStep {
    /// 1-based, in execution order across phases (the rollback counts apart).
    pub number: usize,
    pub id: String,
    /// The title, or the id when there is none.
    pub title: String,
    pub description: Option<String>,
    /// The action's key: `http`, `manual`, `set_setting`, …
    pub action: String,
    /// `none`, `probe`, `change`, `irreversible`, `manual`; `unknown` for a child
    /// runbook that cannot be read.
    pub effect: String,
    pub irreversible: bool,
    /// What the step acts on, resolved: `GET https://…`, `set KEY in FILE`,
    /// `$ command`, `run child PATH`.
    pub target: String,
    /// More of the action, one line each: headers, bearer, body, env, polls.
    pub details: Vec<String>,
    /// A manual step's instructions, resolved.
    pub instructions: Option<String>,
    /// What must hold for the step to pass.
    pub expect: Vec<String>,
    pub needs: Vec<PlannedNeed>,
    pub when: Option<PlannedWhen>,
    pub confirm: Option<PlannedConfirm>,
    pub approve: Option<PlannedApprove>,
    pub for_each: Option<PlannedForEach>,
    pub retry: Option<String>,
    pub timeout: Option<String>,
    /// Whether the step's results are secret.
    pub secret: bool,
    pub outputs: Vec<PlannedOutput>,
    pub priority: Option<String>,
    pub estimate: Option<String>,
    pub guide: Option<String>,
    /// A child runbook's own plan.
    pub child: Option<Box<Plan>>,
    /// With `--probe`, what probing this step found; `None` for steps that are
    /// not probes, or without `--probe`.
    pub probe: Option<ProbeResult>,
}

/// A `needs:` gate.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedNeed {
    pub step: String,
    /// The evidence must have passed no longer ago than this (`30m`).
    pub within: Option<String>,
}

/// A `when:` condition.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedWhen {
    /// The expression as written.
    pub expression: String,
    /// Its value when it reads only what is known now; `None` otherwise.
    pub value: Option<bool>,
}

/// A `confirm:` gate.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedConfirm {
    pub message: Option<String>,
    /// What the operator must type, resolved (`‹last 4 of steps.old_token.value›`).
    pub phrase: Option<String>,
    /// What satisfies it without a terminal: `--confirm ID`, or `--yes` too.
    pub non_interactive: String,
}

/// An `approve:` gate: people other than the operator must approve the step.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedApprove {
    pub count: u32,
    pub from: Vec<String>,
    /// Shown to the approvers, resolved.
    pub message: Option<String>,
}

/// `for_each:` + `concurrency:`.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedForEach {
    pub items: String,
    pub concurrency: u32,
}

/// One of a step's `outputs:`.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedOutput {
    pub name: String,
    pub value: String,
}

/// What `--probe` found for one step.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeResult {
    /// `passed`, `failed`, `skipped` (its `when` is false now) or `not_probed`.
    pub outcome: String,
    /// What came back, or why the step was not probed.
    pub detail: String,
    /// The HTTP status of the (last) response.
    pub status: Option<u16>,
    pub elapsed_ms: Option<u64>,
}

/// Counts over the main steps (the rollback apart).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub steps: usize,
    pub rollback_steps: usize,
    /// Steps per effect.
    pub effects: BTreeMap<String, usize>,
    /// Ids of the irreversible steps.
    pub irreversible: Vec<String>,
    /// Ids of the steps with a `confirm`.
    pub confirms: Vec<String>,
    /// Inputs with no value yet: asked when a step first uses them.
    pub unresolved_inputs: Vec<String>,
}

impl Summary {
    /// "3 probe", "1 irreversible", …: the effects present, in a fixed order.
    pub fn effect_counts(&self) -> Vec<String> {
        [
            "manual",
            "none",
            "probe",
            "notify",
            "change",
            "irreversible",
            "unknown",
        ]
        .iter()
        .filter_map(|e| self.effects.get(*e).map(|n| format!("{n} {e}")))
        .collect()
    }
}

impl Plan {
    /// The main steps, in order.
    pub fn steps(&self) -> impl Iterator<Item = &PlannedStep> {
        self.phases.iter().flat_map(|p| p.steps.iter())
    }
}

/// Runs `runbook plan`: prints the plan, writes the artifact with `--out`.
pub fn command(options: &PlanOptions, out: &mut Output) -> Result<i32, PlanError> {
    let file = options.file.as_path();
    let (runbook, answers) =
        load_with_answers(file, &options.sets, options.answers_file.as_deref())?;
    let prober = if options.probe {
        Some(probe::Prober::new().map_err(PlanError::Probe)?)
    } else {
        None
    };
    let plan = planner::plan(file, &runbook, &answers, prober.as_ref());
    match options.format {
        Format::Json => out.write(&json(&plan)),
        format => out.show(|color| render(&plan, format, color)),
    }
    .map_err(PlanError::from)?;
    if let Some(path) = &options.out {
        artifact::write(path, file, &runbook, &answers, &plan)?;
        // A closed stderr must not turn a written plan into a panic.
        let _ = writeln!(
            std::io::stderr(),
            "Plan written to {}: run it with `runbook run {} --plan {}`",
            path.display(),
            file.display(),
            path.display()
        );
    }
    Ok(0)
}

/// The plan in `format`.
pub fn render(plan: &Plan, format: Format, color: bool) -> String {
    match format {
        Format::Human => human::render(plan, color),
        Format::Markdown => markdown::render(plan),
        Format::Json => json(plan),
    }
}

/// The plan as pretty JSON with a final newline.
pub fn json(plan: &Plan) -> String {
    let mut text = serde_json::to_string_pretty(plan).unwrap_or_else(|_| "{}".to_owned());
    text.push('\n');
    text
}

/// The runbook and the answers, checked against each other (and the children's
/// inputs) as `run` checks them.
fn load_with_answers(
    file: &Path,
    sets: &[String],
    answers_file: Option<&Path>,
) -> Result<(crate::document::model::Runbook, answers::Answers), PlanError> {
    let runbook = crate::eval::load(file)?;
    let children = crate::eval::load::load_all(file, &runbook);
    let answers = answers::Answers::load(sets, answers_file)?;
    inputs::check_answers(
        &answers,
        &crate::eval::load::scoped(file, &runbook, &children),
    )?;
    inputs::check_not_shadowed(&answers, &inputs::with_passed(file, &runbook, &children))?;
    Ok((runbook, answers))
}

/// Checks, before a run starts (`run --plan`), that the runbook and the answers
/// are still the ones the plan at `plan_path` was made with.
pub fn check_run(
    plan_path: &Path,
    file: &Path,
    sets: &[String],
    answers_file: Option<&Path>,
) -> Result<(), PlanError> {
    let (runbook, answers) = load_with_answers(file, sets, answers_file)?;
    artifact::verify(plan_path, file, &runbook, &answers)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn plan_of(yaml: &str) -> Plan {
        let checked = crate::document::check(Path::new("x.yaml"), yaml);
        assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
        let runbook = checked.runbook.expect("a runbook");
        planner::plan(
            Path::new("x.yaml"),
            &runbook,
            &answers::Answers::default(),
            None,
        )
    }

    const RUNBOOK: &str = "runbook: x
steps:
  - id: look
    http: { url: 'https://example.com/{{ inputs.id }}' }
  - id: drop
    needs: [look]
    effect: irreversible
    confirm: true
    command: rm -rf /tmp/x
inputs:
  id: { description: which }
";

    #[test]
    fn colour_only_when_asked_and_irreversible_stands_out() {
        let plan = plan_of(RUNBOOK);
        let plain = render(&plan, Format::Human, false);
        assert!(!plain.contains('\u{1b}'), "{plain}");
        assert!(plain.contains("[drop]  ⚠ IRREVERSIBLE"), "{plain}");
        let coloured = render(&plan, Format::Human, true);
        assert!(
            coloured.contains("\u{1b}[31m\u{1b}[1m⚠ IRREVERSIBLE"),
            "{coloured}"
        );
        assert!(coloured.contains("\u{1b}[35m‹inputs.id›"), "{coloured}");
        for format in [Format::Markdown, Format::Json] {
            assert!(!render(&plan, format, true).contains('\u{1b}'));
        }
    }

    #[test]
    fn plain_confirms_take_yes_but_irreversible_ones_do_not() {
        let plan = plan_of(RUNBOOK);
        let drop = plan.steps().nth(1).expect("two steps");
        let confirm = drop.confirm.as_ref().expect("a confirm");
        assert_eq!(confirm.non_interactive, "--confirm drop");
        assert_eq!(drop.target, "$ rm -rf /tmp/x");
        assert_eq!(plan.summary.unresolved_inputs, ["id"]);
    }
}
