//! What a crash leaves holding secrets (issue 10 item 15) is removed on the next
//! run or resume: the temporary file of a settings write cut off before its
//! rename, and the backups of a run that passed but died before removing them.
//! The `--events` file is owner-only like the journal it mirrors.

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;

use super::{Work, files_under};

/// Saves a setting (unless `skip`), then a manual step that blocks without `--yes`.
const SAVE: &str = r#"runbook: save
inputs:
  skip: { default: "no" }
steps:
  - id: save
    when: inputs.skip == 'no'
    set_setting: { file: app.env, key: API_TOKEN, value: new-secret-value }
  - id: look
    manual: Look at it.
"#;

/// A pid no process has: one that just exited.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true")
        .spawn()
        .expect("run true");
    let pid = child.id();
    child.wait().expect("reap true");
    pid
}

/// What a writer killed between creating its temporary file and the rename
/// leaves beside `app.env`.
fn crashed_write(work: &Work) -> PathBuf {
    let leftover = work.join(&format!(".app.env.runbook-{}-0.tmp", dead_pid()));
    std::fs::write(&leftover, "API_TOKEN=new-secret-value\n").expect("write the leftover");
    leftover
}

#[test]
fn a_crashed_settings_writes_temporary_file_is_removed_on_resume() {
    let work = Work::new();
    work.write("save.yaml", SAVE);
    work.write("app.env", "API_TOKEN=old-secret-value\n");
    work.runbook(["run", "save.yaml"]).status(3);
    let leftover = crashed_write(&work);
    // `save` passed earlier: the resume writes nothing, and cleans all the same.
    work.runbook(["resume", "save.yaml", "--yes"]).status(0);
    assert!(
        !leftover.exists(),
        "the crashed write's copy of the secret stays"
    );
}

#[test]
fn a_crashed_settings_writes_temporary_file_is_removed_on_the_next_run() {
    let work = Work::new();
    work.write("save.yaml", SAVE);
    work.write("app.env", "API_TOKEN=old-secret-value\n");
    work.runbook(["run", "save.yaml", "--yes"]).status(0);
    let leftover = crashed_write(&work);
    // A live writer's file is never touched.
    let live = work.join(&format!(".app.env.runbook-{}-0.tmp", std::process::id()));
    std::fs::write(&live, "in flight").expect("write a live writer's file");
    work.runbook(["run", "save.yaml", "--yes", "--set", "skip=yes"])
        .status(0);
    assert!(
        !leftover.exists(),
        "the crashed write's copy of the secret stays"
    );
    assert!(live.exists(), "a live writer's file was removed");
}

/// The backup files under the state directory.
fn backups(work: &Work) -> Vec<PathBuf> {
    files_under(&work.join(".runbook/save/backups"))
}

#[test]
fn backups_a_passed_run_left_by_crashing_before_removing_them_go_on_the_next_run() {
    let work = Work::new();
    work.write("save.yaml", SAVE);
    work.write("app.env", "API_TOKEN=old-secret-value\n");
    // Blocked: its backup stays, for a rollback after the resume.
    work.runbook(["run", "save.yaml"]).status(3);
    let kept = backups(&work);
    assert_eq!(kept.len(), 1, "{kept:?}");
    work.runbook(["resume", "save.yaml", "--yes"]).status(0);
    assert!(backups(&work).is_empty(), "a passed run keeps its backups");

    // As if the process died between `run_finished` and removing them.
    let bak = &kept[0];
    std::fs::create_dir_all(bak.parent().expect("a run's backups directory")).expect("recreate it");
    std::fs::write(bak, "API_TOKEN=old-secret-value\n").expect("put the backup back");
    work.runbook(["run", "save.yaml", "--set", "skip=yes", "--yes"])
        .status(0);
    assert!(
        backups(&work).is_empty(),
        "the old secret stays in {:?}",
        backups(&work)
    );
}

#[test]
fn the_events_file_is_owner_only() {
    let work = Work::new();
    work.write("save.yaml", SAVE);
    work.write("app.env", "API_TOKEN=old-secret-value\n");
    work.runbook(["run", "save.yaml", "--yes", "--events", "events.jsonl"])
        .status(0);
    let mode = std::fs::metadata(work.join("events.jsonl"))
        .expect("the events file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
}
