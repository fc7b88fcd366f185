//! `cargo bench --bench validate`: how fast `runbook validate` is, measured against
//! the cost of only parsing the same YAML, and whether its memory stays flat as the
//! number of files grows.
//!
//! It generates realistic, valid runbooks (`support/runbooks.rs`: 2–10 KB each) into
//! a temp dir, then measures, side by side:
//!
//! - parse only: read each file and `serde_saphyr::from_str::<serde_json::Value>`
//!   (and, as the floor under everything, only the parser's events);
//! - `runbook::document::check` on each file, in process (with a phase breakdown:
//!   YAML to nodes, decoding, rules);
//! - the release binary, `runbook validate DIR --format json`, as a subprocess, with
//!   its peak RSS for 1,000 and for all files (also in the streaming human format);
//! - one file, process start to exit, many times;
//! - the binary's wall time against the one-thread parse's, for what `--jobs`
//!   gains on every core (target ≤ 0.6×): run it on an otherwise idle machine —
//!   the row prints the load average it was measured under.
//!
//! Each figure is the best of a few rounds, by CPU time where the kernel reports it:
//! on a shared machine the wall clock also counts time spent waiting for a core. The
//! ratios against parse-only are the median of per-round ratios, each from passes
//! run back to back: the speed of a shared machine drifts over minutes.
//!
//! The binary is the one cargo builds for benches (`CARGO_BIN_EXE_runbook`, the
//! `bench` profile, which inherits `release`): no nested cargo build. Peak RSS comes
//! from `/usr/bin/time -f %M` when present, else from polling `/proc/PID/status`.
//!
//! Environment: `RUNBOOK_BENCH_FILES` (default 10000), `RUNBOOK_BENCH_ROUNDS` (timed
//! rounds of the in-process passes and of the binary over all files; default 5).
//! The default run takes a few minutes.
//!
//! For counting instructions instead (`valgrind --tool=callgrind`, whose count does
//! not depend on what else the machine runs): `RUNBOOK_BENCH_DUMP=DIR` writes the
//! corpus into DIR and stops; `RUNBOOK_BENCH_PARSE=DIR` runs the parse-only pass
//! once over DIR's `.yaml` files and stops, so the floor can be counted under
//! callgrind like `runbook validate DIR --jobs 1`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use runbook::document::{self, decode, node};

#[path = "support/rng.rs"]
mod rng;
#[path = "support/runbooks.rs"]
mod runbooks;

use runbooks::{SMALL_SET, generate};

/// The targets.
const MAX_RATIO: f64 = 1.5;
/// `validate DIR` on every core against the one-thread parse, in wall time.
const MAX_WALL_RATIO: f64 = 0.6;
const MAX_SINGLE_FILE: Duration = Duration::from_millis(20);
/// "Flat": all files may take at most this much more peak memory than the first 1,000.
const MAX_RSS_GROWTH: f64 = 1.25;
const SINGLE_RUNS: usize = 50;

// The floor is measured with the allocator the binary uses, so the ratios say
// what validate costs beyond the parse, not which malloc is faster.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not meaningful here.
    let count = env_number("RUNBOOK_BENCH_FILES", 10_000).max(SMALL_SET + 1);
    let rounds = env_number("RUNBOOK_BENCH_ROUNDS", 5).max(1);
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_runbook"));
    if let Some(dir) = std::env::var_os("RUNBOOK_BENCH_DUMP") {
        let (files, _) = generate(Path::new(&dir), count);
        println!(
            "generated {} runbooks under {}",
            files.len(),
            Path::new(&dir).display()
        );
        return;
    }
    if let Some(dir) = std::env::var_os("RUNBOOK_BENCH_PARSE") {
        let files = yaml_files(Path::new(&dir));
        parse_only(&files);
        println!("parsed {} files", files.len());
        return;
    }

    let dir = tempfile::tempdir().expect("a temp dir");
    let started = Instant::now();
    let (files, bytes) = generate(dir.path(), count);
    println!(
        "generated {} runbooks ({:.1} MB, {:.1} KB on average, {}–{} bytes) in {:.1?}",
        files.len(),
        float(bytes.iter().sum::<usize>()) / 1024.0 / 1024.0,
        float(bytes.iter().sum::<usize>()) / 1024.0 / float(files.len()),
        bytes.iter().min().unwrap_or(&0),
        bytes.iter().max().unwrap_or(&0),
        started.elapsed()
    );
    println!("binary: {}", binary.display());
    sample_is_clean(&files);

    // Warm the page cache, so the first timed pass does not pay for the disk.
    for file in &files {
        std::fs::read(file).expect("read a generated runbook");
    }

    let mut parse = Cost::NONE;
    let mut events = Cost::NONE;
    let mut nodes = Cost::NONE;
    let mut decoded = Cost::NONE;
    let mut check = Cost::NONE;
    let mut all = Validated {
        cost: Cost::NONE,
        peak_kb: None,
    };
    // The ratios are taken per round, from passes run back to back, and the median
    // kept: this machine's speed drifts by a third over minutes (other tenants), so
    // the best parse of one minute against the best validate of another says more
    // about the drift than about validate.
    let mut binary_ratios = Vec::new();
    let mut check_ratios = Vec::new();
    // Wall against wall: what `--jobs` (both cores by default) gains over the
    // one-thread parse. Meaningful only on an otherwise idle machine.
    let mut wall_ratios = Vec::new();
    for _ in 0..rounds {
        let parsed = Cost::measure(|| parse_only(&files));
        let validated = run_validate(&binary, dir.path(), "json");
        let checked = Cost::measure(|| check_all(&files));
        binary_ratios.push(validated.cost.ratio(parsed));
        wall_ratios.push(validated.cost.wall.as_secs_f64() / parsed.wall.as_secs_f64());
        check_ratios.push(checked.ratio(parsed));
        parse = parse.best(parsed);
        check = check.best(checked);
        all = Validated {
            cost: all.cost.best(validated.cost),
            peak_kb: all.peak_kb.max(validated.peak_kb),
        };
        events = events.best(Cost::measure(|| parser_events(&files)));
        nodes = nodes.best(Cost::measure(|| parse_nodes(&files, false)));
        decoded = decoded.best(Cost::measure(|| parse_nodes(&files, true)));
    }
    let small = run_validate(&binary, &dir.path().join("first"), "json");
    let small_human = run_validate(&binary, &dir.path().join("first"), "human");
    let all_human = run_validate(&binary, dir.path(), "human");
    let (median, p95) = single_file(&binary, &files);

    let n = files.len();
    let (ratio_binary, spread_binary) = median_ratio(&mut binary_ratios);
    let (ratio_check, spread_check) = median_ratio(&mut check_ratios);
    let (ratio_wall, spread_wall) = median_ratio(&mut wall_ratios);
    let growth_json = rss_growth(small.peak_kb, all.peak_kb);
    let growth_human = rss_growth(small_human.peak_kb, all_human.peak_kb);

    let mut table = String::new();
    let mut row = |what: &str, figure: String, verdict: String| {
        let _ = writeln!(table, "  {what:<50} {figure:>34}  {verdict}");
    };
    row(
        &format!("{n} files, best of {rounds} rounds"),
        format!("{:>8} {:>8} {:>15}", "wall", "CPU", "per file"),
        String::new(),
    );
    row(
        "(a) parse only: read + serde-saphyr → JSON Value",
        parse.per_file(n),
        String::new(),
    );
    row(
        "    the parser alone: read + granit-parser events",
        events.per_file(n),
        String::new(),
    );
    row(
        "(b) in process: read + document::check",
        check.per_file(n),
        String::new(),
    );
    row(
        "      read + YAML → nodes (node::parse)",
        nodes.per_file(n),
        String::new(),
    );
    row(
        "      + decode (nodes → model)",
        decoded.minus(nodes).per_file(n),
        String::new(),
    );
    row(
        "      + rules (references, templates, gates)",
        check.minus(decoded).per_file(n),
        String::new(),
    );
    row(
        "(c) binary: runbook validate DIR --format json",
        all.cost.per_file(n),
        String::new(),
    );
    row("", String::new(), String::new());
    row(
        "ratio (c)/(a): validate binary / parse only",
        format!("median {ratio_binary:.2}× ({spread_binary})"),
        verdict(ratio_binary <= MAX_RATIO, &format!("target ≤ {MAX_RATIO}×")),
    );
    row(
        &format!(
            "wall (c)/(a) on {} cores (load {})",
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            load_average()
        ),
        format!("median {ratio_wall:.2}× ({spread_wall})"),
        verdict(
            ratio_wall <= MAX_WALL_RATIO,
            &format!("target ≤ {MAX_WALL_RATIO}× on an idle machine"),
        ),
    );
    row(
        "ratio (b)/(a): check in process / parse only",
        format!("median {ratio_check:.2}× ({spread_check})"),
        verdict(ratio_check <= MAX_RATIO, &format!("target ≤ {MAX_RATIO}×")),
    );
    row(
        &format!("peak RSS, --format json: {SMALL_SET} → {n} files"),
        format!("{} → {}", kb(small.peak_kb), kb(all.peak_kb)),
        verdict(
            growth_json.is_some_and(|g| g <= MAX_RSS_GROWTH),
            &format!("{} (flat: ≤ {MAX_RSS_GROWTH}×)", growth(growth_json)),
        ),
    );
    row(
        &format!("peak RSS, human format: {SMALL_SET} → {n} files"),
        format!("{} → {}", kb(small_human.peak_kb), kb(all_human.peak_kb)),
        verdict(
            growth_human.is_some_and(|g| g <= MAX_RSS_GROWTH),
            &format!("{} (flat: ≤ {MAX_RSS_GROWTH}×)", growth(growth_human)),
        ),
    );
    row(
        &format!("one file, process start → exit ({SINGLE_RUNS} runs)"),
        format!("median {} p95 {}", ms(median), ms(p95)),
        verdict(
            p95 < MAX_SINGLE_FILE,
            &format!("target p95 < {} ms", MAX_SINGLE_FILE.as_millis()),
        ),
    );
    println!("\n{table}");
    println!(
        "Ratios use CPU time where it is known (wall time includes waiting for a core on a \
         busy machine).\nLoad average at the end: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
}

// ---------------------------------------------------------------------------
// Measurements

/// The median of per-round ratios, and their range as text.
fn median_ratio(ratios: &mut [f64]) -> (f64, String) {
    ratios.sort_by(f64::total_cmp);
    let middle = ratios.len() / 2;
    let median = if ratios.len().is_multiple_of(2) {
        f64::midpoint(ratios[middle - 1], ratios[middle])
    } else {
        ratios[middle]
    };
    let spread = format!(
        "{:.2}–{:.2}× over {} rounds",
        ratios.first().copied().unwrap_or(f64::NAN),
        ratios.last().copied().unwrap_or(f64::NAN),
        ratios.len()
    );
    (median, spread)
}

/// The wall-clock and CPU time of a piece of work. On a shared machine the wall clock
/// also counts time spent waiting for a core; CPU time does not, so comparisons use
/// CPU time when it is known.
#[derive(Clone, Copy)]
struct Cost {
    wall: Duration,
    cpu: Option<Duration>,
}

impl Cost {
    const NONE: Cost = Cost {
        wall: Duration::MAX,
        cpu: None,
    };

    fn measure(work: impl FnOnce()) -> Cost {
        let cpu = thread_cpu();
        let started = Instant::now();
        work();
        let wall = started.elapsed();
        Cost {
            wall,
            cpu: cpu
                .zip(thread_cpu())
                .map(|(before, after)| after.saturating_sub(before)),
        }
    }

    fn basis(self) -> Duration {
        self.cpu.unwrap_or(self.wall)
    }

    fn best(self, other: Cost) -> Cost {
        if other.basis() < self.basis() {
            other
        } else {
            self
        }
    }

    fn minus(self, other: Cost) -> Cost {
        Cost {
            wall: self.wall.saturating_sub(other.wall),
            cpu: self.cpu.zip(other.cpu).map(|(a, b)| a.saturating_sub(b)),
        }
    }

    fn ratio(self, base: Cost) -> f64 {
        match (self.cpu, base.cpu) {
            (Some(a), Some(b)) => a.as_secs_f64() / b.as_secs_f64(),
            _ => self.wall.as_secs_f64() / base.wall.as_secs_f64(),
        }
    }

    /// Wall time, CPU time, and CPU (else wall) time per file.
    fn per_file(self, n: usize) -> String {
        let cpu = self
            .cpu
            .map_or_else(|| "?".to_owned(), |c| format!("{:.2} s", c.as_secs_f64()));
        format!(
            "{:>8} {cpu:>8} {:>15}",
            format!("{:.2} s", self.wall.as_secs_f64()),
            format!("{:.0} µs", self.basis().as_secs_f64() * 1e6 / float(n))
        )
    }
}

/// The CPU time this thread has used: `/proc/thread-self/schedstat` (nanoseconds)
/// when the kernel keeps it, else `/proc/thread-self/stat` (clock ticks, 10 ms).
fn thread_cpu() -> Option<Duration> {
    let schedstat = std::fs::read_to_string("/proc/thread-self/schedstat").ok();
    if let Some(ns) = schedstat
        .as_deref()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .filter(|ns| *ns > 0)
    {
        return Some(Duration::from_nanos(ns));
    }
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ, which /proc reports in, is 100 on Linux.
    Some(Duration::from_millis(ticks * 10))
}

fn parse_only(files: &[PathBuf]) {
    let mut values = 0usize;
    for file in files {
        let text = std::fs::read_to_string(file).expect("read a generated runbook");
        let value: serde_json::Value =
            serde_saphyr::from_str(&text).expect("a generated runbook is YAML");
        values += usize::from(value.is_object());
    }
    assert_eq!(values, files.len());
}

/// The floor under both: the events of granit-parser, the parser serde-saphyr is
/// built on and the node builder reads, with nothing built from them.
fn parser_events(files: &[PathBuf]) {
    let mut count = 0usize;
    for file in files {
        let text = std::fs::read_to_string(file).expect("read a generated runbook");
        for event in serde_saphyr::granit_parser::Parser::new_from_str(&text) {
            event.expect("a generated runbook is YAML");
            count += 1;
        }
    }
    assert!(count > files.len());
}

/// `check`'s first phases on their own: YAML to nodes, and (with `decode`) nodes to
/// the model. The rules are what the whole check takes beyond both.
fn parse_nodes(files: &[PathBuf], decode: bool) {
    for file in files {
        let text = std::fs::read_to_string(file).expect("read a generated runbook");
        let root = node::parse(&text).expect("a generated runbook is YAML");
        if decode {
            let mut diagnostics = Vec::new();
            decode::decode(&root, &text, &mut diagnostics).expect("a runbook");
        }
    }
}

fn check_all(files: &[PathBuf]) {
    let mut problems = 0;
    for file in files {
        let text = std::fs::read_to_string(file).expect("read a generated runbook");
        problems += document::check(file, &text).diagnostics.len();
    }
    assert_eq!(problems, 0, "the generated runbooks should validate clean");
}

struct Validated {
    cost: Cost,
    peak_kb: Option<u64>,
}

/// Runs `runbook validate DIR --format FORMAT`: its wall time, and its CPU time and
/// peak RSS from `/usr/bin/time` (or, without it, peak RSS polled from `/proc`).
/// The 1-minute load average, as `/proc/loadavg` gives it (`?` elsewhere): the
/// wall-time figures mean little when it is above the core count.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split(' ').next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

fn run_validate(binary: &Path, dir: &Path, format: &str) -> Validated {
    let time = Path::new("/usr/bin/time");
    let report = tempfile::NamedTempFile::new().expect("a temp file");
    let mut command = if time.exists() {
        let mut command = Command::new(time);
        command
            .arg("-f")
            .arg("%U %S %M")
            .arg("-o")
            .arg(report.path())
            .arg(binary);
        command
    } else {
        Command::new(binary)
    };
    command
        .args(["validate", "--format", format])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let started = Instant::now();
    let mut child = command.spawn().expect("start runbook validate");
    let mut polled = None;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for runbook validate") {
            break status;
        }
        if !time.exists() {
            polled = vm_hwm_kb(child.id()).or(polled);
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let wall = started.elapsed();
    assert_eq!(
        status.code(),
        Some(0),
        "runbook validate {} --format {format} found problems in valid runbooks",
        dir.display()
    );
    let measured = std::fs::read_to_string(report.path()).unwrap_or_default();
    let fields: Vec<&str> = measured
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let seconds = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    let cpu = seconds(0)
        .zip(seconds(1))
        .map(|(user, system)| Duration::from_secs_f64(user + system));
    let peak_kb = fields.get(2).and_then(|f| f.parse().ok()).or(polled);
    Validated {
        cost: Cost { wall, cpu },
        peak_kb,
    }
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Median and 95th percentile of validating one mid-sized file in a fresh process.
fn single_file(binary: &Path, files: &[PathBuf]) -> (Duration, Duration) {
    let file = files
        .iter()
        .find(|f| std::fs::metadata(f).is_ok_and(|m| (5_000..7_000).contains(&m.len())))
        .unwrap_or(&files[0]);
    let mut times: Vec<Duration> = (0..SINGLE_RUNS)
        .map(|_| {
            let started = Instant::now();
            let status = Command::new(binary)
                .arg("validate")
                .arg(file)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("run runbook validate");
            assert!(status.success(), "{} does not validate", file.display());
            started.elapsed()
        })
        .collect();
    times.sort();
    (times[times.len() / 2], times[times.len() * 95 / 100])
}

/// Checks a sample with the binary's own rules: generated runbooks must be clean.
fn sample_is_clean(files: &[PathBuf]) {
    for file in files.iter().step_by(files.len() / 50 + 1) {
        let text = std::fs::read_to_string(file).expect("read a generated runbook");
        let checked = document::check(file, &text);
        assert!(
            checked.diagnostics.is_empty(),
            "{} is not clean: {:#?}\n{text}",
            file.display(),
            checked.diagnostics
        );
    }
}

// ---------------------------------------------------------------------------
// Reading a dumped corpus

/// The `.yaml` files of `dir` and of its subdirectories, sorted: a dumped corpus.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read a corpus dir") {
            let path = entry.expect("a corpus dir entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

// ---------------------------------------------------------------------------
// Formatting

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_growth(small: Option<u64>, all: Option<u64>) -> Option<f64> {
    Some(float(usize::try_from(all?).ok()?) / float(usize::try_from(small?).ok()?))
}

fn growth(growth: Option<f64>) -> String {
    growth.map_or_else(|| "unmeasured".to_owned(), |g| format!("{g:.2}×"))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn kb(peak: Option<u64>) -> String {
    peak.map_or_else(
        || "?".to_owned(),
        |kb| {
            format!(
                "{:.1} MB",
                float(usize::try_from(kb).unwrap_or(usize::MAX)) / 1024.0
            )
        },
    )
}

/// Counts as floats, for ratios and averages: they are far below 2^52.
#[allow(clippy::cast_precision_loss)]
fn float(n: usize) -> f64 {
    n as f64
}

fn verdict(pass: bool, target: &str) -> String {
    format!("{}  {target}", if pass { "PASS" } else { "FAIL" })
}
