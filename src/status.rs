//! `runbook status [FILE]`: where a checklist stands. With FILE, each item of the
//! runbook's latest run — done (when, by whom), deferred (why, when), blocked
//! (by which gate), failed or still pending — with its priority and estimate,
//! grouped by phase, and the time still ahead. Without FILE, every runbook under
//! `runbooks/` with its last run.
//!
//! "Where it stands" is the latest run: a new run starts the checklist over, and
//! `resume` continues one, so an older run's "done" says nothing about now.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value as Json, json};

use crate::document::model::{Runbook, Step};
use crate::engine::outcome::Outcome;
use crate::engine::state_dir::StateDir;
use crate::output::Output;
use crate::postgres::StateUrl;
use crate::report::run_report::{
    HappeningKind, ReportError, Run, RunState, date, declared_id, latest_run, minute,
};

/// The formats of `runbook status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Markdown,
    Json,
}

/// Where one item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Done,
    Deferred,
    Pending,
    Blocked,
    Failed,
    Skipped,
}

impl State {
    fn of(outcome: Outcome) -> State {
        match outcome {
            Outcome::Passed => State::Done,
            Outcome::Deferred => State::Deferred,
            // Abandoned is never a step's outcome; were it one, the item would
            // still be to do.
            Outcome::Pending | Outcome::Abandoned => State::Pending,
            Outcome::Blocked => State::Blocked,
            Outcome::Failed | Outcome::RollbackFailed => State::Failed,
            Outcome::Skipped => State::Skipped,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Done => "done",
            State::Deferred => "deferred",
            State::Pending => "pending",
            State::Blocked => "blocked",
            State::Failed => "failed",
            State::Skipped => "skipped",
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            State::Done => "✓",
            State::Deferred => "⏸",
            State::Pending => "·",
            State::Blocked => "⛔",
            State::Failed => "✗",
            State::Skipped => "↷",
        }
    }

    /// Whether the item's estimate is still ahead.
    fn ahead(self) -> bool {
        !matches!(self, State::Done | State::Skipped)
    }
}

/// One checklist item as the latest run left it.
#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    pub title: String,
    pub priority: Option<&'static str>,
    pub estimate: Option<Duration>,
    pub state: State,
    pub reason: Option<String>,
    /// When it finished in the run.
    pub at: Option<String>,
    /// Who approved it (`approve:`), when, and what: the last approval in the
    /// run of each name bound to the step — its own, or, for a step that runs
    /// a child runbook, each of the child's (item by item in a fan-out).
    pub approved: Vec<Approval>,
}

/// An approval of an item, as the journal records it.
#[derive(Debug, Clone)]
pub struct Approval {
    /// The name the approval is bound to when not the step's id (`kid["a"].revoke`).
    pub name: Option<String>,
    pub approvals: Vec<crate::engine::journal::ApprovalRecord>,
    pub target: String,
    pub runbook_sha256: String,
}

impl Approval {
    /// `approved by bob 2026-12-03 09:14 UTC`, `kid["a"].revoke approved by …`.
    fn describe(&self) -> String {
        let by: Vec<String> = self
            .approvals
            .iter()
            .map(|a| format!("{} {}", a.approver, minute(&a.decided_at)))
            .collect();
        match &self.name {
            Some(name) => format!("{name} approved by {}", by.join(", ")),
            None => format!("approved by {}", by.join(", ")),
        }
    }
}

/// A phase (or, for a runbook without phases, the one unnamed group).
#[derive(Debug, Clone)]
pub struct Group {
    pub id: Option<String>,
    pub title: Option<String>,
    pub items: Vec<Item>,
}

/// A checklist's standing.
pub struct Status {
    pub runbook: Runbook,
    pub file: String,
    pub run: Option<Run>,
    pub groups: Vec<Group>,
    /// Rollback steps that ran in the latest run.
    pub rollback: Vec<Item>,
    /// Runs of this runbook that still hold secrets at rest for `resume`.
    pub secrets_at_rest: Vec<String>,
}

/// Counts over the items.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub items: usize,
    pub done: usize,
    pub deferred: usize,
    pub pending: usize,
    pub blocked: usize,
    pub failed: usize,
    pub skipped: usize,
    /// The sum of the estimates of the items not done.
    pub ahead: Duration,
    /// Items not done that have no estimate (so `ahead` is a lower bound).
    pub unestimated: usize,
    /// No step has an estimate: `ahead` is the runbook's own, an upper bound.
    pub from_runbook: bool,
}

impl Status {
    /// The standing of `runbook` (from `file`) after `run`.
    pub fn new(runbook: Runbook, file: &Path, run: Option<Run>) -> Status {
        let item = |step: &Step| {
            let last = run.as_ref().and_then(|r| r.last(&step.id.value));
            Item {
                id: step.id.value.clone(),
                title: step
                    .title
                    .as_ref()
                    .map_or_else(|| step.id.value.clone(), |t| t.value.clone()),
                priority: step.priority.as_ref().map(|p| p.value.as_str()),
                estimate: step.estimate.as_ref().map(|e| e.value.0),
                state: last.map_or(State::Pending, |l| State::of(l.outcome)),
                reason: last.and_then(|l| l.reason.as_deref()).map(|reason| {
                    // Older journals record a deferral as "deferred: <reason>".
                    match last.map(|l| l.outcome) {
                        Some(Outcome::Deferred) => reason
                            .strip_prefix("deferred: ")
                            .unwrap_or(reason)
                            .to_owned(),
                        _ => reason.to_owned(),
                    }
                }),
                at: last.map(|l| l.finished_at.clone()),
                approved: run.as_ref().map_or_else(Vec::new, |r| approved(r, step)),
            }
        };
        let groups = runbook
            .phases
            .iter()
            .map(|phase| Group {
                id: phase.id.as_ref().map(|i| i.value.clone()),
                title: phase.title.as_ref().map(|t| t.value.clone()),
                items: phase.steps.iter().map(item).collect(),
            })
            .collect();
        let rollback = runbook
            .rollback
            .iter()
            .map(item)
            .filter(|i| i.state != State::Pending)
            .collect();
        let secrets_at_rest = StateDir::for_runbook(file, &runbook.id.value)
            .map(|state| crate::engine::kept::held(&state))
            .unwrap_or_default();
        Status {
            file: file.display().to_string(),
            groups,
            rollback,
            run,
            runbook,
            secrets_at_rest,
        }
    }

    /// The command that continues the latest run, when it can be continued:
    /// with `--confirm` for every item blocked for want of one.
    pub fn resume_hint(&self) -> Option<String> {
        let run = self.run.as_ref()?;
        match run.state {
            RunState::Interrupted
            | RunState::Unfinished
            | RunState::Finished {
                outcome: Outcome::Blocked,
                ..
            } => {}
            // A newer run took its place: only the latest is resumed.
            RunState::Finished { .. } | RunState::Superseded => return None,
        }
        let mut command = format!("runbook resume {}", self.file);
        for item in self.items() {
            let asks = item
                .reason
                .as_deref()
                .is_some_and(|r| r.contains(&format!("`--confirm {}`", item.id)));
            if item.state == State::Blocked && asks {
                let _ = write!(command, " --confirm {}", item.id);
            }
        }
        Some(command)
    }

    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.groups.iter().flat_map(|g| g.items.iter())
    }

    pub fn totals(&self) -> Totals {
        let mut totals = Totals::default();
        for item in self.items() {
            totals.items += 1;
            match item.state {
                State::Done => totals.done += 1,
                State::Deferred => totals.deferred += 1,
                State::Pending => totals.pending += 1,
                State::Blocked => totals.blocked += 1,
                State::Failed => totals.failed += 1,
                State::Skipped => totals.skipped += 1,
            }
            if item.state.ahead() {
                match item.estimate {
                    Some(estimate) => totals.ahead += estimate,
                    None => totals.unestimated += 1,
                }
            }
        }
        // Steps without estimates of their own, in a runbook that has one: the
        // work ahead is at most the whole, not nothing.
        if let Some(whole) = &self.runbook.estimate
            && self.items().all(|i| i.estimate.is_none())
            && totals.unestimated > 0
        {
            totals.ahead = whole.value.0;
            totals.unestimated = 0;
            totals.from_runbook = true;
        }
        totals
    }

    fn title(&self) -> String {
        self.runbook
            .title
            .as_ref()
            .map_or_else(|| self.runbook.id.value.clone(), |t| t.value.clone())
    }

    /// `by ana` when the run knows who ran it.
    fn operator(&self) -> Option<&str> {
        self.run
            .as_ref()
            .map(|r| r.operator.as_str())
            .filter(|o| !o.is_empty() && *o != "unknown")
    }

    /// What the item's state says, in words: `done 2026-11-28 by ana`,
    /// `deferred: until production deployment (2026-11-28)`, `blocked: …`.
    pub fn describe(&self, item: &Item) -> String {
        let day = item.at.as_deref().map(date);
        let mut text = match item.state {
            State::Done => {
                let mut text = "done".to_owned();
                if let Some(day) = day {
                    let _ = write!(text, " {day}");
                }
                if let Some(operator) = self.operator() {
                    let _ = write!(text, " by {operator}");
                }
                text
            }
            State::Deferred => {
                let mut text = match item.reason.as_deref() {
                    Some(reason) if !reason.is_empty() => format!("deferred: {reason}"),
                    _ => "deferred".to_owned(),
                };
                if let Some(day) = day {
                    let _ = write!(text, " ({day})");
                }
                text
            }
            State::Pending => "pending".to_owned(),
            State::Blocked | State::Failed | State::Skipped => {
                let word = item.state.as_str();
                match item.reason.as_deref() {
                    // Gate reasons already begin with "blocked: ".
                    Some(reason) if reason.starts_with(word) => reason.to_owned(),
                    Some(reason) => format!("{word}: {reason}"),
                    None => word.to_owned(),
                }
            }
        };
        // A fan-out blocked on some items' approvals shows those given.
        for approval in &item.approved {
            let _ = write!(text, " · {}", approval.describe());
        }
        text
    }
}

/// An estimate as runbooks write it: `15m`, `1h 25m`.
fn estimate(duration: Option<Duration>) -> String {
    duration.map_or_else(
        || "-".to_owned(),
        |d| humantime::format_duration(d).to_string(),
    )
}

/// The run line: `run 2026… · blocked · 2026-11-28 06:09 UTC by ana`.
fn run_line(run: Option<&Run>) -> String {
    match run {
        None => "no runs yet".to_owned(),
        Some(run) => {
            let mut line = format!(
                "run {} · {} · started {}",
                run.id,
                run.state.label(),
                minute(&run.started_at)
            );
            if !run.operator.is_empty() && run.operator != "unknown" {
                let _ = write!(line, " by {}", run.operator);
            }
            line
        }
    }
}

fn totals_line(totals: &Totals) -> String {
    let mut line = format!(
        "{} items: {} done · {} deferred · {} blocked · {} failed · {} pending",
        totals.items, totals.done, totals.deferred, totals.blocked, totals.failed, totals.pending
    );
    if totals.skipped > 0 {
        let _ = write!(line, " · {} skipped", totals.skipped);
    }
    line
}

fn ahead_line(totals: &Totals) -> String {
    let ahead = if totals.ahead.is_zero() {
        "0m".to_owned()
    } else {
        humantime::format_duration(totals.ahead).to_string()
    };
    if totals.from_runbook {
        return format!("Still ahead: up to {ahead} (the runbook's estimate; its steps have none)");
    }
    let mut line = format!("Still ahead: {ahead}");
    match totals.unestimated {
        0 => {}
        1 => line.push_str(" (+ 1 item without an estimate)"),
        n => {
            let _ = write!(line, " (+ {n} items without an estimate)");
        }
    }
    line
}

/// Pads `text` to `width` terminal columns (wide marks like ⛔ take two).
fn pad(text: &str, width: usize) -> String {
    let shown = console::measure_text_width(text);
    format!("{text}{}", " ".repeat(width.saturating_sub(shown)))
}

fn render_human(status: &Status, color: bool) -> String {
    let mut out = String::new();
    let mut header = status.title();
    if let Some(priority) = &status.runbook.priority {
        let _ = write!(header, " · {}", priority.value.as_str());
    }
    if let Some(e) = &status.runbook.estimate {
        let _ = write!(header, " · estimate {}", estimate(Some(e.value.0)));
    }
    let _ = writeln!(
        out,
        "{}",
        console::style(header).bold().force_styling(color)
    );
    let _ = writeln!(out, "{} · {}", status.file, run_line(status.run.as_ref()));
    let all: Vec<&Item> = status.items().chain(status.rollback.iter()).collect();
    let id_width = all.iter().map(|i| i.id.chars().count()).max().unwrap_or(0);
    let priority_width = all
        .iter()
        .map(|i| i.priority.map_or(1, str::len))
        .max()
        .unwrap_or(1);
    let estimate_width = all
        .iter()
        .map(|i| estimate(i.estimate).chars().count())
        .max()
        .unwrap_or(1);
    let line = |out: &mut String, item: &Item| {
        let mark = item.state.symbol();
        let styled = match item.state {
            State::Done => console::style(mark).green(),
            State::Deferred => console::style(mark).yellow(),
            State::Blocked | State::Failed => console::style(mark).red(),
            State::Pending | State::Skipped => console::style(mark).dim(),
        }
        .force_styling(color);
        let _ = writeln!(
            out,
            "  {}{} {}  {}  {}  {}",
            styled,
            " ".repeat(2usize.saturating_sub(console::measure_text_width(mark))),
            pad(&item.id, id_width),
            pad(item.priority.unwrap_or("-"), priority_width),
            pad(&estimate(item.estimate), estimate_width),
            status.describe(item)
        );
    };
    for group in &status.groups {
        out.push('\n');
        if let Some(title) = group.title.as_ref().or(group.id.as_ref()) {
            let _ = writeln!(out, "{}", console::style(title).bold().force_styling(color));
        }
        for item in &group.items {
            line(&mut out, item);
        }
    }
    if !status.rollback.is_empty() {
        out.push_str("\nRollback\n");
        for item in &status.rollback {
            line(&mut out, item);
        }
    }
    let totals = status.totals();
    out.push('\n');
    let _ = writeln!(out, "{}", totals_line(&totals));
    let _ = writeln!(out, "{}", ahead_line(&totals));
    for line in closing_lines(status) {
        let _ = writeln!(out, "{line}");
    }
    out
}

/// What follows the totals: the runs holding secrets at rest, and how to go on.
fn closing_lines(status: &Status) -> Vec<String> {
    let mut lines = Vec::new();
    if !status.secrets_at_rest.is_empty() {
        lines.push(format!(
            "Secrets kept at rest for resume by run {} (removed when the run ends; `runbook abandon {}` ends it now)",
            status.secrets_at_rest.join(", "),
            status.file
        ));
    }
    if let Some(hint) = status.resume_hint() {
        lines.push(format!("Resume with `{hint}`"));
    }
    lines
}

/// A Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn render_markdown(status: &Status) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", cell(&status.title()));
    let mut facts = vec![format!("`{}`", status.runbook.id.value)];
    if let Some(priority) = &status.runbook.priority {
        facts.push(format!("priority {}", priority.value.as_str()));
    }
    if let Some(e) = &status.runbook.estimate {
        facts.push(format!("estimate {}", estimate(Some(e.value.0))));
    }
    let _ = writeln!(out, "{}  ", facts.join(" · "));
    let _ = writeln!(out, "{}\n", cell(&run_line(status.run.as_ref())));
    let table = |out: &mut String, items: &[Item]| {
        out.push_str("| | Item | Priority | Estimate | Status |\n|---|---|---|---|---|\n");
        for item in items {
            let _ = writeln!(
                out,
                "| {} | {} (`{}`) | {} | {} | {} |",
                item.state.symbol(),
                cell(&item.title),
                item.id,
                item.priority.unwrap_or("-"),
                estimate(item.estimate),
                cell(&status.describe(item))
            );
        }
    };
    for group in &status.groups {
        if let Some(title) = group.title.as_ref().or(group.id.as_ref()) {
            let _ = writeln!(out, "## {}\n", cell(title));
        }
        table(&mut out, &group.items);
        out.push('\n');
    }
    if !status.rollback.is_empty() {
        out.push_str("## Rollback\n\n");
        table(&mut out, &status.rollback);
        out.push('\n');
    }
    let totals = status.totals();
    let _ = writeln!(out, "**{}**  ", totals_line(&totals));
    let _ = writeln!(out, "**{}**", ahead_line(&totals));
    for line in closing_lines(status) {
        let _ = writeln!(out, "\n{}", cell(&line));
    }
    out
}

fn item_json(status: &Status, item: &Item) -> Json {
    json!({
        "id": item.id,
        "title": item.title,
        "priority": item.priority,
        "estimate": item.estimate.map(|e| humantime::format_duration(e).to_string()),
        "estimate_seconds": item.estimate.map(|e| e.as_secs()),
        "status": item.state.as_str(),
        "summary": status.describe(item),
        "reason": item.reason,
        "at": item.at,
        "operator": if item.at.is_some() { status.operator() } else { None },
        "approved": item.approved.last().map(approval_json),
        "approved_by_name": item
            .approved
            .iter()
            .map(|a| (a.name.clone().unwrap_or_else(|| item.id.clone()), approval_json(a)))
            .collect::<serde_json::Map<String, Json>>(),
    })
}

fn approval_json(approval: &Approval) -> Json {
    json!({
        "approvals": approval.approvals,
        "target": approval.target,
        "runbook_sha256": approval.runbook_sha256,
    })
}

/// The latest approval in `run` of each name bound to `step`, in the order
/// they were first given.
fn approved(run: &Run, step: &Step) -> Vec<Approval> {
    let mut found: Vec<Approval> = Vec::new();
    for h in &run.happenings {
        let HappeningKind::Approved {
            approvals,
            target,
            runbook_sha256,
        } = &h.what
        else {
            continue;
        };
        if h.step.as_deref() != Some(step.id.value.as_str()) {
            continue;
        }
        let approval = Approval {
            name: h.approval.clone(),
            approvals: approvals.clone(),
            target: target.clone(),
            runbook_sha256: runbook_sha256.clone(),
        };
        match found.iter_mut().find(|a| a.name == approval.name) {
            Some(earlier) => *earlier = approval,
            None => found.push(approval),
        }
    }
    found
}

fn run_json(run: Option<&Run>) -> Json {
    run.map_or(Json::Null, |run| {
        let (outcome, exit_code) = match run.state {
            RunState::Finished { outcome, exit_code } => (Some(outcome.as_str()), Some(exit_code)),
            _ => (None, None),
        };
        json!({
            "id": run.id,
            "state": run.state.label(),
            "outcome": outcome,
            "exit_code": exit_code,
            "started_at": run.started_at,
            "last_event_at": run.last_at,
            "operator": run.operator,
            "journal": run.journal.display().to_string(),
        })
    })
}

fn render_json(status: &Status) -> String {
    let totals = status.totals();
    let groups: Vec<Json> = status
        .groups
        .iter()
        .map(|g| {
            json!({
                "id": g.id,
                "title": g.title,
                "items": g.items.iter().map(|i| item_json(status, i)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let document = json!({
        "runbook": status.runbook.id.value,
        "title": status.runbook.title.as_ref().map(|t| &t.value),
        "file": status.file,
        "checklist": status.runbook.is_checklist(),
        "priority": status.runbook.priority.as_ref().map(|p| p.value.as_str()),
        "estimate": status.runbook.estimate.as_ref().map(|e| humantime::format_duration(e.value.0).to_string()),
        "run": run_json(status.run.as_ref()),
        "phases": groups,
        "rollback": status.rollback.iter().map(|i| item_json(status, i)).collect::<Vec<_>>(),
        "totals": {
            "items": totals.items,
            "done": totals.done,
            "deferred": totals.deferred,
            "pending": totals.pending,
            "blocked": totals.blocked,
            "failed": totals.failed,
            "skipped": totals.skipped,
            "ahead": humantime::format_duration(totals.ahead).to_string(),
            "ahead_seconds": totals.ahead.as_secs(),
            "items_without_estimate": totals.unestimated,
            "ahead_is_the_runbook_estimate": totals.from_runbook,
        },
        "resume": status.resume_hint(),
        "secrets_at_rest": status.secrets_at_rest,
    });
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_else(|_| "{}".to_owned());
    text.push('\n');
    text
}

/// `runbook status [FILE]`.
///
/// With `state`, runs are read from the team state database, so every machine
/// of the team sees the same; the secrets kept at rest are this machine's.
pub fn run(
    file: Option<&Path>,
    format: Format,
    state: Option<&StateUrl>,
    out: &mut Output,
) -> Result<i32, ReportError> {
    let Some(file) = file else {
        return overview(format, state, out);
    };
    if !file.exists() {
        return Err(ReportError::NoSuchPath(file.to_owned()));
    }
    let runbook = crate::eval::load(file)?;
    let run = latest_run(file, &runbook.id.value, state)?;
    let status = Status::new(runbook, file, run);
    match format {
        Format::Human => out.show(|color| render_human(&status, color))?,
        Format::Markdown => out.show(|_| render_markdown(&status))?,
        Format::Json => out.write(&render_json(&status))?,
    }
    Ok(0)
}

/// One runbook under `runbooks/` with its last run.
struct Row {
    file: String,
    id: Option<String>,
    title: Option<String>,
    run: Option<Run>,
    /// Done and total items, when the runbook is valid.
    progress: Option<(usize, usize)>,
    /// Runs holding secrets at rest for `resume`.
    secrets: Vec<String>,
}

/// Without FILE: every runbook under `runbooks/` with its last run.
fn overview(
    format: Format,
    state: Option<&StateUrl>,
    out: &mut Output,
) -> Result<i32, ReportError> {
    let dir = Path::new("runbooks");
    if !dir.is_dir() {
        return Err(ReportError::NoRunbooksDir);
    }
    let mut rows = Vec::new();
    for path in crate::validate::files(dir) {
        let file = path.display().to_string();
        let runbook = crate::eval::load(&path).ok();
        let id = runbook
            .as_ref()
            .map(|r| r.id.value.clone())
            .or_else(|| declared_id(&path));
        let run = match &id {
            // A journal that cannot be read shows as no run; a team database
            // that cannot be reached is said, never shown as "no runs".
            Some(id) => match latest_run(&path, id, state) {
                Ok(run) => run,
                Err(ReportError::Team(error)) => return Err(error.into()),
                Err(_) => None,
            },
            None => None,
        };
        let title = runbook
            .as_ref()
            .and_then(|r| r.title.as_ref().map(|t| t.value.clone()));
        let progress = runbook.map(|runbook| {
            let status = Status::new(runbook, &path, run.clone());
            let totals = status.totals();
            (totals.done + totals.skipped, totals.items)
        });
        let secrets = id
            .as_ref()
            .and_then(|id| StateDir::for_runbook(&path, id).ok())
            .map(|state| crate::engine::kept::held(&state))
            .unwrap_or_default();
        rows.push(Row {
            file,
            id,
            title,
            run,
            progress,
            secrets,
        });
    }
    match format {
        Format::Human => out.show(|_| overview_human(&rows))?,
        Format::Markdown => out.show(|_| overview_markdown(&rows))?,
        Format::Json => out.write(&overview_json(&rows))?,
    }
    Ok(0)
}

fn overview_cells(row: &Row) -> [String; 6] {
    let id = row.id.clone().unwrap_or_else(|| "?".to_owned());
    let (run_id, outcome, when) = match &row.run {
        Some(run) => (
            run.id.clone(),
            run.state.label().to_owned(),
            minute(&run.last_at),
        ),
        None => ("-".to_owned(), "never run".to_owned(), "-".to_owned()),
    };
    let progress = match row.progress {
        Some((done, total)) => format!("{done}/{total} done"),
        None => "(not a valid runbook)".to_owned(),
    };
    [id, run_id, outcome, when, progress, row.file.clone()]
}

fn overview_human(rows: &[Row]) -> String {
    let mut table = vec![[
        "RUNBOOK".to_owned(),
        "LAST RUN".to_owned(),
        "OUTCOME".to_owned(),
        "WHEN".to_owned(),
        "PROGRESS".to_owned(),
        "FILE".to_owned(),
    ]];
    table.extend(rows.iter().map(overview_cells));
    let widths: Vec<usize> = (0..5)
        .map(|i| {
            table
                .iter()
                .map(|r| console::measure_text_width(&r[i]))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &table {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            match widths.get(i) {
                Some(width) => {
                    let _ = write!(line, "{}  ", pad(cell, *width));
                }
                None => line.push_str(cell),
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    for line in secrets_lines(rows) {
        let _ = writeln!(out, "\n{line}");
    }
    out
}

/// The runs that still hold secrets at rest, one line each.
fn secrets_lines(rows: &[Row]) -> Vec<String> {
    rows.iter()
        .filter(|row| !row.secrets.is_empty())
        .map(|row| {
            format!(
                "{} holds secrets at rest for resume (run {}): `runbook resume {}` finishes it, `runbook abandon {}` ends it",
                row.id.as_deref().unwrap_or("?"),
                row.secrets.join(", "),
                row.file,
                row.file
            )
        })
        .collect()
}

fn overview_markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "| Runbook | Title | Last run | Outcome | When | Progress | File |\n|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        let [id, run_id, outcome, when, progress, file] = overview_cells(row);
        let _ = writeln!(
            out,
            "| `{id}` | {} | {} | {outcome} | {when} | {progress} | {} |",
            cell(row.title.as_deref().unwrap_or("")),
            if run_id == "-" {
                run_id
            } else {
                format!("`{run_id}`")
            },
            cell(&file)
        );
    }
    for line in secrets_lines(rows) {
        let _ = writeln!(out, "\n{}", cell(&line));
    }
    out
}

fn overview_json(rows: &[Row]) -> String {
    let runbooks: Vec<Json> = rows
        .iter()
        .map(|row| {
            json!({
                "runbook": row.id,
                "title": row.title,
                "file": row.file,
                "valid": row.progress.is_some(),
                "last_run": run_json(row.run.as_ref()),
                "done": row.progress.map(|p| p.0),
                "items": row.progress.map(|p| p.1),
                "secrets_at_rest": row.secrets,
            })
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&json!({ "runbooks": runbooks }))
        .unwrap_or_else(|_| "{}".to_owned());
    text.push('\n');
    text
}
