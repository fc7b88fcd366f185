//! Tests of the settings actions on real files in temporary directories.

use std::fs;
use std::io::Read as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _, symlink};
use std::path::{Path, PathBuf};

use super::{SettingError, Written, read, restore, write};
use crate::secret::fingerprint;

const SECRET: &str = "s3cr3t-t0ken-value";

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

fn put(path: &Path, text: &str) {
    fs::write(path, text).expect("writing a fixture");
}

fn text(path: &Path) -> String {
    fs::read_to_string(path).expect("reading back a file")
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("metadata").mode() & 0o7777
}

/// Files in `dir` other than the settings file and the backup: leftovers.
fn leftovers(dir: &Path, keep: &[&str]) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .expect("listing")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| {
            !keep
                .iter()
                .any(|name| path.file_name().is_some_and(|n| n == *name))
        })
        .collect()
}

#[test]
fn reads_none_for_a_missing_file_or_key() {
    let tmp = dir();
    let path = tmp.path().join(".env");
    assert_eq!(read(&path, "KEY").ok(), Some(None));
    put(&path, "OTHER=1\n");
    assert_eq!(read(&path, "KEY").ok(), Some(None));
    assert_eq!(read(&path, "OTHER").ok(), Some(Some("1".to_owned())));
}

#[test]
fn writes_in_place_keeping_every_other_line() {
    let tmp = dir();
    let path = tmp.path().join(".env.auth");
    let backup = tmp.path().join("backups/save_token");
    let before = "\
# Cloudflare
export CLOUDFLARE_API_TOKEN=\"old-token\" # set 2024-01-01

OTHER='single quoted'
LAST=\"double\"";
    put(&path, before);
    let written = write(&path, &[("CLOUDFLARE_API_TOKEN", "new-token")], &backup).expect("write");
    assert_eq!(
        written,
        Written {
            previous_fingerprints: vec![Some(fingerprint("old-token"))],
            backup: backup.clone(),
        }
    );
    assert_eq!(
        text(&path),
        before.replace("\"old-token\"", "new-token"),
        "only the value changed"
    );
    write(
        &path,
        &[("ADDED", "a b")],
        &tmp.path().join("backups/added"),
    )
    .expect("append");
    assert_eq!(
        text(&path),
        format!(
            "{}\nADDED='a b'\n",
            before.replace("\"old-token\"", "new-token")
        )
    );
    assert_eq!(
        read(&path, "CLOUDFLARE_API_TOKEN").ok(),
        Some(Some("new-token".to_owned()))
    );
    assert!(leftovers(tmp.path(), &[".env.auth", "backups"]).is_empty());
}

#[test]
fn a_new_file_is_owner_only_and_an_existing_one_keeps_mode_and_owner() {
    let tmp = dir();
    let new = tmp.path().join("new.env");
    let written = write(&new, &[("KEY", SECRET)], &tmp.path().join("b1")).expect("create");
    assert_eq!(written.previous_fingerprints, [None]);
    assert_eq!(text(&new), format!("KEY={SECRET}\n"));
    assert_eq!(mode(&new), 0o600);
    assert_eq!(mode(&tmp.path().join("b1")), 0o600);

    let shared = tmp.path().join("shared.env");
    put(&shared, "KEY=old\n");
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o640)).expect("chmod");
    // Only root can give a file away; elsewhere the owner part is not testable.
    let chowned = std::os::unix::fs::chown(&shared, Some(4321), Some(4321)).is_ok();
    write(&shared, &[("KEY", "new")], &tmp.path().join("b2")).expect("write");
    assert_eq!(mode(&shared), 0o640);
    if chowned {
        let metadata = fs::metadata(&shared).expect("metadata");
        assert_eq!((metadata.uid(), metadata.gid()), (4321, 4321));
    }
}

#[test]
fn the_file_is_replaced_never_rewritten_in_place() {
    let tmp = dir();
    let path = tmp.path().join(".env");
    put(&path, "KEY=old\n");
    let mut reader = fs::File::open(&path).expect("open");
    write(&path, &[("KEY", "new")], &tmp.path().join("b")).expect("write");
    // A reader that opened the file before still sees the whole old file: the new
    // content arrived by rename, not by truncating and rewriting.
    let mut seen = String::new();
    reader.read_to_string(&mut seen).expect("read");
    assert_eq!(seen, "KEY=old\n");
    assert_eq!(text(&path), "KEY=new\n");
}

#[test]
fn a_symlink_is_followed_and_stays_a_symlink() {
    let tmp = dir();
    let real = tmp.path().join("real.env");
    let link = tmp.path().join("link.env");
    put(&real, "KEY=old\n");
    symlink("real.env", &link).expect("symlink");
    write(&link, &[("KEY", "new")], &tmp.path().join("b")).expect("write");
    assert!(
        fs::symlink_metadata(&link)
            .expect("lstat")
            .file_type()
            .is_symlink()
    );
    assert_eq!(text(&real), "KEY=new\n");

    restore(&link, &["KEY"], &tmp.path().join("b")).expect("restore");
    assert!(
        fs::symlink_metadata(&link)
            .expect("lstat")
            .file_type()
            .is_symlink()
    );
    assert_eq!(text(&real), "KEY=old\n");

    // A dangling link: its target is created, and removed again on restore.
    let dangling = tmp.path().join("dangling.env");
    symlink("target.env", &dangling).expect("symlink");
    write(&dangling, &[("KEY", "v")], &tmp.path().join("b2")).expect("write");
    assert_eq!(text(&tmp.path().join("target.env")), "KEY=v\n");
    restore(&dangling, &["KEY"], &tmp.path().join("b2")).expect("restore");
    assert!(!tmp.path().join("target.env").exists());
    assert!(
        fs::symlink_metadata(&dangling).is_ok(),
        "the link itself stays"
    );
}

#[test]
fn restore_puts_back_the_key_and_keeps_what_the_rest_holds_now() {
    let tmp = dir();
    let path = tmp.path().join(".env");
    let backup = tmp.path().join("state/backup");
    let before = "A=1\r\n# odd but kept\r\nKEY=old\t# no final newline";
    put(&path, before);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
    write(&path, &[("KEY", "new")], &backup).expect("write");
    assert_ne!(text(&path), before);
    restore(&path, &["KEY"], &backup).expect("restore");
    assert_eq!(text(&path), before);
    assert_eq!(mode(&path), 0o644);
    // Another key changed since the write keeps its new value; a second setting
    // of the same file, written and restored in forward order, both come back.
    let other = tmp.path().join("state/other");
    write(&path, &[("KEY", "new")], &backup).expect("write KEY");
    write(&path, &[("A", "2")], &other).expect("write A");
    fs::write(&path, format!("{}\r\nC=added", text(&path))).expect("append");
    restore(&path, &["KEY"], &backup).expect("restore KEY");
    restore(&path, &["A"], &other).expect("restore A");
    assert_eq!(text(&path), format!("{before}\r\nC=added"));
    restore(&path, &["KEY"], &backup).expect("a restore can be repeated");
    assert_eq!(text(&path), format!("{before}\r\nC=added"));
}

#[test]
fn restore_removes_a_file_that_did_not_exist() {
    let tmp = dir();
    let path = tmp.path().join(".env");
    let backup = tmp.path().join("backup");
    write(&path, &[("KEY", "v")], &backup).expect("write");
    assert!(path.exists());
    restore(&path, &["KEY"], &backup).expect("restore");
    assert!(!path.exists());
    restore(&path, &["KEY"], &backup).expect("nothing to remove is fine");
}

#[test]
fn a_repeated_write_keeps_the_original_backup() {
    // A retry, or a resume after a crash between the write and the journal, runs
    // the step again: its backup must still hold the original, not the step's output.
    let tmp = dir();
    let path = tmp.path().join(".env");
    let backup = tmp.path().join("backup");
    put(&path, "KEY=original\n");
    write(&path, &[("KEY", "first")], &backup).expect("first attempt");
    let again = write(&path, &[("KEY", "second")], &backup).expect("second attempt");
    assert_eq!(again.previous_fingerprints, [Some(fingerprint("original"))]);
    assert_eq!(text(&path), "KEY=second\n");
    restore(&path, &["KEY"], &backup).expect("restore");
    assert_eq!(text(&path), "KEY=original\n");
}

#[test]
fn a_stale_backup_of_another_content_is_replaced() {
    let tmp = dir();
    let path = tmp.path().join(".env");
    let backup = tmp.path().join("backup");
    put(&path, "KEY=one\n");
    write(&path, &[("KEY", "two")], &backup).expect("write");
    put(&path, "KEY=edited by hand\n");
    let written = write(&path, &[("KEY", "three")], &backup).expect("write");
    assert_eq!(
        written.previous_fingerprints,
        [Some(fingerprint("edited by hand"))]
    );
    restore(&path, &["KEY"], &backup).expect("restore");
    assert_eq!(
        read(&path, "KEY").expect("read").as_deref(),
        Some("edited by hand")
    );
}

#[test]
fn a_foreign_file_at_the_backup_path_is_never_overwritten() {
    let tmp = dir();
    let path = tmp.path().join(".env");
    let backup = tmp.path().join("backup");
    put(&path, "KEY=old\n");
    put(&backup, "precious\n");
    let error = write(&path, &[("KEY", SECRET)], &backup).expect_err("refused");
    assert!(
        matches!(error, SettingError::BackupCorrupt { .. }),
        "{error}"
    );
    assert_eq!(text(&backup), "precious\n");
    assert_eq!(text(&path), "KEY=old\n");
    let error = restore(&path, &["KEY"], &backup).expect_err("refused");
    assert!(
        matches!(error, SettingError::BackupCorrupt { .. }),
        "{error}"
    );
}

/// Every way a write can fail, with what it must report. None may show the value.
#[test]
fn errors_name_the_file_say_what_to_do_and_never_show_the_value() {
    let tmp = dir();
    let root = tmp.path();
    let backup = root.join("backup");
    let file = root.join("plain-file");
    put(&file, "A=1\n");
    let not_utf8 = root.join("latin1.env");
    fs::write(&not_utf8, b"A=caf\xe9\n").expect("fixture");
    let fifo = root.join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    let looped = root.join("loop.env");
    symlink("loop.env", &looped).expect("symlink");
    let blocked = root.join("blocked.env");
    put(&blocked, "KEY=old\n");

    let cases: Vec<(SettingError, &str, &str)> = vec![
        (
            write(root, &[("KEY", SECRET)], &backup).expect_err("dir"),
            "is a directory",
            "point `file:`",
        ),
        (
            write(&root.join("missing/.env"), &[("KEY", SECRET)], &backup).expect_err("no parent"),
            "does not exist",
            "create it",
        ),
        (
            write(&file.join(".env"), &[("KEY", SECRET)], &backup).expect_err("parent is a file"),
            "is a file, not a directory",
            "fix the `file:` path",
        ),
        (
            read(&file.join(".env"), "KEY").expect_err("parent is a file"),
            "is a file, not a directory",
            "fix the `file:` path",
        ),
        (
            write(&not_utf8, &[("KEY", SECRET)], &backup).expect_err("latin-1"),
            "not UTF-8",
            "convert it",
        ),
        (
            write(&fifo, &[("KEY", SECRET)], &backup).expect_err("fifo"),
            "not a regular file",
            "point `file:`",
        ),
        (
            write(&looped, &[("KEY", SECRET)], &backup).expect_err("loop"),
            "loop of symbolic links",
            "fix the links",
        ),
        (
            write(&file, &[("BAD-KEY", SECRET)], &backup).expect_err("key"),
            "not a valid setting key",
            "use ASCII letters",
        ),
        (
            read(&file, "1KEY").expect_err("key"),
            "not a valid setting key",
            "use ASCII letters",
        ),
        (
            write(&file, &[("KEY", &format!("{SECRET}'$"))], &backup).expect_err("unquotable"),
            "bash and python-dotenv",
            "edit the file by hand",
        ),
        (
            write(&blocked, &[("KEY", SECRET)], &file.join("backup")).expect_err("backup dir"),
            "cannot save the backup",
            "settings file is unchanged",
        ),
        (
            restore(&file, &["KEY"], &root.join("no-backup")).expect_err("no backup"),
            "does not exist",
            "by hand",
        ),
    ];
    for (error, what, advice) in cases {
        let shown = error.to_string();
        let debug = format!("{error:?}");
        assert!(shown.contains(what), "{shown:?} should say {what:?}");
        assert!(shown.contains(advice), "{shown:?} should advise {advice:?}");
        assert!(
            !shown.contains(SECRET) && !debug.contains(SECRET),
            "{debug}"
        );
        if !matches!(error, SettingError::InvalidKey { .. }) {
            assert!(
                shown.contains(&root.display().to_string()),
                "{shown:?} names no path"
            );
        }
    }
    assert_eq!(text(&blocked), "KEY=old\n", "no backup, no write");
    assert_eq!(text(&file), "A=1\n");
}

#[test]
fn an_unterminated_quote_earlier_in_the_file_stops_the_write() {
    let tmp = dir();
    let path = tmp.path().join(".env");
    put(&path, "A=\"never closed\n");
    // Double-quoted (it has a `'`), so its opening quote would close A's value.
    let error = write(&path, &[("KEY", "it's")], &tmp.path().join("b")).expect_err("refused");
    assert!(
        matches!(error, SettingError::WouldCorrupt { .. }),
        "{error}"
    );
    assert_eq!(text(&path), "A=\"never closed\n");
}

#[test]
fn the_empty_string_is_written_on_a_line_with_a_comment() {
    let tmp = dir();
    let path = tmp.path().join(".env");
    put(&path, "KEY=old # rotated by hand\nNEXT=1\n");
    write(&path, &[("KEY", "")], &tmp.path().join("b")).expect("an empty value is writable");
    assert_eq!(text(&path), "KEY='' # rotated by hand\nNEXT=1\n");
    assert_eq!(read(&path, "KEY").ok(), Some(Some(String::new())));
}

#[test]
fn a_key_written_twice_gets_the_new_value_on_every_line() {
    let tmp = dir();
    let path = tmp.path().join(".env");
    put(
        &path,
        "KEY=old-secret\nOTHER=1\nexport KEY=\"old-secret\" # again\n",
    );
    let written = write(&path, &[("KEY", "new")], &tmp.path().join("b")).expect("write");
    assert_eq!(text(&path), "KEY=new\nOTHER=1\nexport KEY=new # again\n");
    assert!(!text(&path).contains("old-secret"));
    assert_eq!(
        written.previous_fingerprints,
        [Some(fingerprint("old-secret"))]
    );
}

#[test]
fn a_settings_file_larger_than_the_cap_is_refused_unread() {
    use crate::document::source::MAX_FILE_BYTES;
    let tmp = dir();
    let path = tmp.path().join("huge.env");
    // Sparse: 2 GiB on paper, no blocks on disk. Reading it whole would take 2 GiB
    // of memory, then as much again for the edited copy and the backup.
    let file = fs::File::create(&path).expect("create");
    file.set_len(2 << 30).expect("a sparse file");
    drop(file);
    let backup = tmp.path().join("backups/b");
    for error in [
        read(&path, "KEY").expect_err("read refused"),
        write(&path, &[("KEY", SECRET)], &backup).expect_err("write refused"),
    ] {
        assert!(matches!(error, SettingError::TooLarge { .. }), "{error}");
        let shown = error.to_string();
        assert!(shown.contains(&path.display().to_string()), "{shown}");
        let limit = format!("{} MiB", MAX_FILE_BYTES / 1024 / 1024);
        assert!(shown.contains(&limit), "{shown}");
    }
    assert_eq!(fs::metadata(&path).expect("stat").len(), 2 << 30);
    assert!(!backup.exists(), "no backup of a file never read");
    // Nor is a huge file where a backup should be read whole.
    let small = tmp.path().join("small.env");
    put(&small, "KEY=old\n");
    let planted = tmp.path().join("planted-backup");
    fs::File::create(&planted)
        .and_then(|file| file.set_len(2 << 30))
        .expect("a sparse file");
    for error in [
        write(&small, &[("KEY", SECRET)], &planted).expect_err("write refused"),
        restore(&small, &["KEY"], &planted).expect_err("restore refused"),
    ] {
        assert!(
            matches!(error, SettingError::BackupCorrupt { .. }),
            "{error}"
        );
        assert!(
            error.to_string().contains("larger than any backup"),
            "{error}"
        );
    }
    assert_eq!(text(&small), "KEY=old\n");
    // One byte over the cap is over; the cap itself is fine.
    let edge = tmp.path().join("edge.env");
    let mut bytes = vec![b'#'; usize::try_from(MAX_FILE_BYTES).expect("fits")];
    bytes[0..6].copy_from_slice(b"KEY=1\n");
    fs::write(&edge, &bytes).expect("fixture");
    assert_eq!(read(&edge, "KEY").ok(), Some(Some("1".to_owned())));
    bytes.push(b'#');
    fs::write(&edge, &bytes).expect("fixture");
    assert!(matches!(
        read(&edge, "KEY"),
        Err(SettingError::TooLarge { .. })
    ));
}

#[test]
fn a_crashed_writers_temporary_file_is_removed_by_the_next_write() {
    let tmp = dir();
    let path = tmp.path().join("app.env");
    put(&path, "KEY=old\n");
    // A real process that has ended: the pid in a leftover's name names no one now.
    let mut ended = std::process::Command::new("true")
        .spawn()
        .expect("start `true`");
    let dead = ended.id();
    ended.wait().expect("`true` ended");
    // And one still running, whose temporary file may be in the middle of a write.
    let mut running = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("start `sleep`");
    let stale = tmp.path().join(format!(".app.env.runbook-{dead}-0.tmp"));
    let in_flight = tmp
        .path()
        .join(format!(".app.env.runbook-{}-3.tmp", running.id()));
    let other_file = tmp.path().join(format!(".other.runbook-{dead}-0.tmp"));
    let not_ours = tmp.path().join(".app.env.runbook-notes.tmp");
    for leftover in [&stale, &in_flight, &other_file, &not_ours] {
        put(leftover, &format!("KEY={SECRET}\n"));
    }
    write(&path, &[("KEY", "new")], &tmp.path().join("b")).expect("write");
    let _ = running.kill();
    let _ = running.wait();
    assert!(
        !stale.exists(),
        "the dead writer's copy of the secret stays"
    );
    assert!(in_flight.exists(), "a live writer's file was removed");
    assert!(
        other_file.exists(),
        "another file's leftover is the next write's"
    );
    assert!(not_ours.exists(), "a file runbook did not name was removed");
    assert_eq!(text(&path), "KEY=new\n");
}

#[test]
fn several_keys_are_written_in_one_write_and_restored_exactly() {
    let tmp = tempfile::tempdir().expect("a temp dir");
    let path = tmp.path().join(".env");
    put(
        &path,
        "# db\nDB_USER=app_v1\nDB_PASSWORD=old-pw\nOTHER=kept\n",
    );
    let backup = tmp.path().join("backups/rotate");
    let inode = fs::metadata(&path).map(|m| m.ino()).expect("stat");
    let written = write(
        &path,
        &[
            ("DB_USER", "app_v2"),
            ("DB_PASSWORD", "new pw"),
            ("ADDED", "x"),
        ],
        &backup,
    )
    .expect("write");
    assert_eq!(
        written.previous_fingerprints,
        [
            Some(fingerprint("app_v1")),
            Some(fingerprint("old-pw")),
            None
        ]
    );
    assert_eq!(
        text(&path),
        "# db\nDB_USER=app_v2\nDB_PASSWORD='new pw'\nOTHER=kept\nADDED=x\n"
    );
    // One rename replaced the file: never a state with one key switched.
    assert_ne!(fs::metadata(&path).map(|m| m.ino()).expect("stat"), inode);

    // Someone edits another key meanwhile; the restore puts back only its keys.
    fs::write(&path, text(&path).replace("OTHER=kept", "OTHER=edited")).expect("edit");
    restore(&path, &["DB_USER", "DB_PASSWORD", "ADDED"], &backup).expect("restore");
    assert_eq!(
        text(&path),
        "# db\nDB_USER=app_v1\nDB_PASSWORD=old-pw\nOTHER=edited\n"
    );
}

#[test]
fn one_unwritable_value_leaves_every_key_unchanged() {
    let tmp = tempfile::tempdir().expect("a temp dir");
    let path = tmp.path().join(".env");
    put(&path, "DB_USER=app_v1\nDB_PASSWORD=old\n");
    let error = write(
        &path,
        &[("DB_USER", "app_v2"), ("DB_PASSWORD", "has\0nul")],
        &tmp.path().join("b"),
    )
    .expect_err("refused");
    assert!(error.to_string().contains("DB_PASSWORD"), "{error}");
    assert_eq!(text(&path), "DB_USER=app_v1\nDB_PASSWORD=old\n");
}
