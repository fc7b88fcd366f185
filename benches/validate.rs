//! `cargo bench --bench validate`: how fast `runbook validate` is, measured against
//! the cost of only parsing the same YAML, and whether its memory stays flat as the
//! number of files grows.
//!
//! It generates realistic, valid runbooks (2–10 KB each: manual, http with
//! `expect.json`, commands with an effect, settings, prompts, waits, `needs` with
//! `within`, templates reading inputs and earlier steps, phases, rollbacks) into a
//! temp dir, then measures, side by side:
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

/// The targets.
const MAX_RATIO: f64 = 1.5;
/// `validate DIR` on every core against the one-thread parse, in wall time.
const MAX_WALL_RATIO: f64 = 0.6;
const MAX_SINGLE_FILE: Duration = Duration::from_millis(20);
/// "Flat": all files may take at most this much more peak memory than the first 1,000.
const MAX_RSS_GROWTH: f64 = 1.25;
const SMALL_SET: usize = 1_000;
const SINGLE_RUNS: usize = 50;

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
// Generating runbooks

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

/// Writes `count` runbooks: the first 1,000 under `first/`, the rest under `rest/`,
/// so one directory holds the small set and the root holds them all.
fn generate(root: &Path, count: usize) -> (Vec<PathBuf>, Vec<usize>) {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let mut files = Vec::with_capacity(count);
    let mut sizes = Vec::with_capacity(count);
    for n in 0..count {
        let dir = root.join(if n < SMALL_SET { "first" } else { "rest" });
        if n == 0 || n == SMALL_SET {
            std::fs::create_dir_all(&dir).expect("create a bench dir");
        }
        let id = format!("rb-{n:05}");
        // Steps come in chunks of a few hundred bytes: draw again until one lands in 2–10 KB.
        let text = loop {
            let text = Generator::new(&mut rng).runbook(&id);
            if (2_048..=10_240).contains(&text.len()) {
                break text;
            }
        };
        let path = dir.join(format!("{id}.yaml"));
        std::fs::write(&path, &text).expect("write a generated runbook");
        sizes.push(text.len());
        files.push(path);
    }
    (files, sizes)
}

const SERVICES: &[&str] = &[
    "billing",
    "auth",
    "search",
    "payments",
    "gateway",
    "ledger",
    "notifier",
    "scheduler",
    "reports",
    "inventory",
    "checkout",
    "media",
];
const TEAMS: &[&str] = &["platform", "sre", "payments", "identity", "data", "edge"];
const WORDS: &[&str] = &[
    "the",
    "service",
    "configuration",
    "token",
    "replica",
    "database",
    "cache",
    "is",
    "checked",
    "before",
    "after",
    "every",
    "deployment",
    "and",
    "rolled",
    "back",
    "when",
    "health",
    "probe",
    "fails",
    "operator",
    "confirms",
    "certificate",
    "renewed",
    "region",
    "traffic",
    "drained",
    "from",
    "old",
    "new",
    "credentials",
    "rotated",
    "safely",
    "within",
    "window",
    "maintenance",
    "queue",
    "backlog",
    "metrics",
    "dashboard",
];
const PATHS: &[&str] = &[
    "health",
    "api/v1/status",
    "api/v1/replicas",
    "api/v2/queues",
    "api/v1/certificates",
    "api/v1/keys",
    "metrics/summary",
    "api/v1/regions",
];
const SETTINGS: &[&str] = &[
    "LOG_LEVEL",
    "FEATURE_FLAGS",
    "REPLICA_COUNT",
    "API_TOKEN",
    "CACHE_TTL",
    "UPSTREAM_URL",
    "MAX_CONNECTIONS",
];

/// What a generated step produces, so later templates read real results.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Manual,
    HttpGet,
    HttpPost,
    Command,
    SetSetting,
    ReadSetting,
    WaitFor,
    Prompt,
}

struct Generator<'r> {
    rng: &'r mut Rng,
    out: String,
    steps: Vec<(String, Kind)>,
    inputs: Vec<&'static str>,
    service: &'static str,
}

impl<'r> Generator<'r> {
    fn new(rng: &'r mut Rng) -> Self {
        let service = SERVICES[rng.below(SERVICES.len())];
        Generator {
            rng,
            out: String::with_capacity(12 * 1024),
            steps: Vec::new(),
            inputs: Vec::new(),
            service,
        }
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.below(items.len())]
    }

    fn sentence(&mut self, words: usize) -> String {
        let mut sentence = String::new();
        for i in 0..words {
            if i > 0 {
                sentence.push(' ');
            }
            sentence.push_str(self.pick(WORDS));
        }
        let mut chars = sentence.chars();
        let first = chars.next().map_or('T', |c| c.to_ascii_uppercase());
        format!("{first}{}.", chars.as_str())
    }

    fn line(&mut self, text: &str) {
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn runbook(mut self, id: &str) -> String {
        let target = 1_900 + self.rng.below(7_700);
        let service = self.service;
        self.line("# yaml-language-server: $schema=../schema/runbook.schema.json");
        let comment = self.sentence(10);
        self.line(&format!("#\n# {comment}"));
        self.line(&format!("runbook: {id}"));
        let title = self.sentence(5);
        self.line(&format!("title: {title}"));
        self.line("description: >-");
        for _ in 0..2 + self.rng.below(3) {
            let words = 8 + self.rng.below(6);
            let s = self.sentence(words);
            self.line(&format!("  {s}"));
        }
        let team = self.pick(TEAMS);
        self.line(&format!("owner: {team}"));
        let priority = self.rng.below(4);
        self.line(&format!("priority: P{priority}"));
        let estimate = 5 + self.rng.below(55);
        self.line(&format!("estimate: {estimate}m"));
        self.line(&format!("guide: docs/{service}/RUNBOOK.md\n"));
        self.inputs();

        let phased = self.rng.below(10) < 3;
        let indent = if phased { "      " } else { "  " };
        if phased {
            self.line("phases:");
        } else {
            self.line("steps:");
        }
        let mut phase = 0;
        let mut in_phase = 0;
        let mut irreversible_at_end = self.rng.below(10) < 4;
        while self.out.len() < target || self.steps.is_empty() {
            if phased && (in_phase == 0 || (in_phase >= 3 && self.rng.below(3) == 0)) {
                phase += 1;
                in_phase = 0;
                let title = self.sentence(4);
                self.line(&format!("  - id: phase_{phase}"));
                self.line(&format!("    title: \"Phase {phase}: {title}\""));
                if self.rng.below(2) == 0 {
                    let s = self.sentence(12);
                    self.line(&format!("    description: {s}"));
                }
                self.line("    steps:");
            }
            self.step(indent);
            in_phase += 1;
        }
        if irreversible_at_end && self.steps.len() < 2 {
            irreversible_at_end = false;
        }
        if irreversible_at_end {
            self.verified_irreversible(indent);
        }
        self.rollback();
        self.out
    }

    fn inputs(&mut self) {
        let service = self.service;
        self.line("inputs:");
        self.line("  env_file:");
        let s = self.sentence(7);
        self.line(&format!("    description: {s}"));
        self.line(&format!("    default: .env.{service}"));
        self.line("  base_url:");
        self.line(&format!("    description: Base URL of the {service} API."));
        self.line(&format!(
            "    default: \"https://{service}.internal.example.com\""
        ));
        self.line("    pattern: \"^https://\"");
        self.inputs = vec!["env_file", "base_url"];
        if self.rng.below(2) == 0 {
            self.line("  api_token:");
            self.line(&format!("    description: The {service} API token."));
            self.line("    secret: true");
            self.line(&format!("    prompt: Paste the {service} API token"));
            self.inputs.push("api_token");
        }
        if self.rng.below(2) == 0 {
            self.line("  region:");
            self.line("    description: Region the change applies to.");
            self.line("    default: eu-west-1");
            self.line("    choices: [eu-west-1, us-east-1, ap-south-1]");
            self.inputs.push("region");
        }
        if self.rng.below(2) == 0 {
            self.line("  restart_command:");
            self.line("    description: Restarts the service so it reloads its settings.");
            self.line(&format!("    default: systemctl restart {service}"));
            self.inputs.push("restart_command");
        }
        self.line("  replicas: { default: \"3\", pattern: \"^[0-9]+$\" }");
        self.inputs.push("replicas");
        self.line("");
    }

    fn input(&mut self) -> &'static str {
        let inputs = self.inputs.clone();
        self.pick(&inputs)
    }

    /// A template reading an input or an earlier step's result.
    fn reference(&mut self) -> String {
        let readable: Vec<(String, Kind)> = self
            .steps
            .iter()
            .filter(|(_, k)| !matches!(k, Kind::Manual | Kind::WaitFor | Kind::SetSetting))
            .cloned()
            .collect();
        if readable.is_empty() || self.rng.below(2) == 0 {
            let input = self.input();
            return format!("{{{{ inputs.{input} }}}}");
        }
        let (id, kind) = self.pick_owned(&readable);
        let field = match kind {
            Kind::HttpGet | Kind::HttpPost => {
                *self.pick_ref(&["status", "elapsed_ms", "json.result.id", "json.result.name"])
            }
            Kind::Command => *self.pick_ref(&["exit_code", "stdout"]),
            _ => "value",
        };
        format!("{{{{ steps.{id}.{field} }}}}")
    }

    fn pick_owned<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.rng.below(items.len())].clone()
    }

    fn pick_ref<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.rng.below(items.len())]
    }

    /// `needs`: the previous step (runbooks run in order), sometimes with a freshness
    /// bound, sometimes an earlier one too.
    fn needs(&mut self, indent: &str) {
        let Some((last, _)) = self.steps.last().cloned() else {
            return;
        };
        if self.steps.len() > 3 && self.rng.below(4) == 0 {
            let earlier = self.steps[self.rng.below(self.steps.len() - 1)].0.clone();
            self.line(&format!("{indent}  needs:"));
            self.line(&format!("{indent}    - {last}"));
            self.line(&format!("{indent}    - {{ step: {earlier}, within: 30m }}"));
        } else if self.rng.below(5) == 0 {
            self.line(&format!(
                "{indent}  needs: [{{ step: {last}, within: 15m }}]"
            ));
        } else {
            self.line(&format!("{indent}  needs: [{last}]"));
        }
    }

    fn step(&mut self, indent: &str) {
        let kind = match self.rng.below(20) {
            0..=4 => Kind::Manual,
            5..=8 => Kind::HttpGet,
            9 | 10 => Kind::HttpPost,
            11..=13 => Kind::Command,
            14 | 15 => Kind::SetSetting,
            16 | 17 => Kind::ReadSetting,
            18 => Kind::WaitFor,
            _ => Kind::Prompt,
        };
        // The first step shows every input, so none is unused.
        let kind = if self.steps.is_empty() {
            Kind::Manual
        } else {
            kind
        };
        let name = match kind {
            Kind::Manual => "review",
            Kind::HttpGet => "check",
            Kind::HttpPost => "update",
            Kind::Command => "run",
            Kind::SetSetting => "set",
            Kind::ReadSetting => "read",
            Kind::WaitFor => "wait",
            Kind::Prompt => "ask",
        };
        let id = format!("{name}_{}_{}", self.service, self.steps.len() + 1);
        self.line(&format!("{indent}- id: {id}"));
        let words = 4 + self.rng.below(4);
        let title = self.sentence(words);
        self.line(&format!("{indent}  title: {title}"));
        if self.rng.below(2) == 0 {
            self.line(&format!("{indent}  description: >-"));
            for _ in 0..=self.rng.below(3) {
                let s = self.sentence(10);
                self.line(&format!("{indent}    {s}"));
            }
        }
        self.needs(indent);
        if self.rng.below(3) == 0 {
            let p = self.rng.below(4);
            let e = 1 + self.rng.below(20);
            self.line(&format!("{indent}  priority: P{p}"));
            self.line(&format!("{indent}  estimate: {e}m"));
        }
        if self.inputs.contains(&"region") && self.rng.below(8) == 0 {
            self.line(&format!(
                "{indent}  when: \"{{{{ inputs.region == 'eu-west-1' }}}}\""
            ));
        }
        match kind {
            Kind::Manual => self.manual(indent),
            Kind::HttpGet => self.http_get(indent),
            Kind::HttpPost => self.http_post(indent),
            Kind::Command => self.command(indent),
            Kind::SetSetting => self.set_setting(indent),
            Kind::ReadSetting => self.read_setting(indent),
            Kind::WaitFor => self.wait_for(indent),
            Kind::Prompt => self.prompt(indent),
        }
        self.line("");
        self.steps.push((id, kind));
    }

    fn manual(&mut self, indent: &str) {
        self.line(&format!("{indent}  manual: |"));
        if self.steps.is_empty() {
            let inputs = self.inputs.clone();
            for input in inputs {
                self.line(&format!("{indent}    - {input}: {{{{ inputs.{input} }}}}"));
            }
        }
        for n in 1..=2 + self.rng.below(5) {
            let words = 6 + self.rng.below(8);
            let s = self.sentence(words);
            let r = self.reference();
            self.line(&format!("{indent}    {n}. {s} See {r}."));
        }
    }

    fn explain(&mut self, indent: &str, codes: &[u16]) {
        self.line(&format!("{indent}  explain:"));
        for code in codes {
            let s = self.sentence(9);
            self.line(&format!("{indent}    {code}: {s}"));
        }
    }

    fn http_get(&mut self, indent: &str) {
        let path = self.pick(PATHS);
        self.line(&format!("{indent}  http:"));
        self.line(&format!(
            "{indent}    url: \"{{{{ inputs.base_url }}}}/{path}\""
        ));
        if self.inputs.contains(&"api_token") && self.rng.below(2) == 0 {
            self.line(&format!(
                "{indent}    bearer: \"{{{{ inputs.api_token }}}}\""
            ));
        }
        if self.rng.below(2) == 0 {
            self.line(&format!("{indent}    headers:"));
            self.line(&format!("{indent}      Accept: application/json"));
        }
        if self.rng.below(3) == 0 {
            self.line(&format!("{indent}  timeout: 10s"));
            self.line(&format!(
                "{indent}  retry: {{ attempts: 3, delay: 2s, backoff: 2 }}"
            ));
        }
        self.line(&format!("{indent}  expect:"));
        self.line(&format!("{indent}    status: 200"));
        self.line(&format!("{indent}    json:"));
        let matchers = [
            "success: true",
            "result.status: active",
            "result.id: { not_empty: true }",
            "result.items: { exists: true }",
            "result.count: { ge: 1 }",
            "errors: { len: 0 }",
            "result.version: { matches: \"^v[0-9]+\" }",
            "result.region: { equals: eu-west-1 }",
        ];
        let first = self.rng.below(matchers.len());
        for i in 0..=self.rng.below(4) {
            let matcher = matchers[(first + i) % matchers.len()];
            self.line(&format!("{indent}      {matcher}"));
        }
        self.explain(indent, &[401, 503]);
        if self.rng.below(3) == 0 {
            self.line(&format!("{indent}  outputs:"));
            let id = format!("check_{}_{}", self.service, self.steps.len() + 1);
            self.line(&format!(
                "{indent}    replica_count: \"{{{{ steps.{id}.json.result.count }}}}\""
            ));
        }
    }

    fn http_post(&mut self, indent: &str) {
        let path = self.pick(PATHS);
        let method = self.pick(&["POST", "PUT", "PATCH"]);
        self.line(&format!("{indent}  http:"));
        self.line(&format!("{indent}    method: {method}"));
        self.line(&format!(
            "{indent}    url: \"{{{{ inputs.base_url }}}}/{path}\""
        ));
        if self.inputs.contains(&"api_token") {
            self.line(&format!(
                "{indent}    bearer: \"{{{{ inputs.api_token }}}}\""
            ));
        }
        self.line(&format!("{indent}    json:"));
        let r = self.reference();
        self.line(&format!("{indent}      name: \"{r}\""));
        self.line(&format!(
            "{indent}      replicas: \"{{{{ inputs.replicas }}}}\""
        ));
        let reason = self.sentence(6);
        self.line(&format!("{indent}      reason: {reason}"));
        self.line(&format!("{indent}  expect:"));
        self.line(&format!("{indent}    status: [200, 201, 204]"));
        self.explain(indent, &[400, 409]);
    }

    fn command(&mut self, indent: &str) {
        let effect = self.pick(&["probe", "probe", "change", "none"]);
        self.line(&format!("{indent}  effect: {effect}"));
        if self.rng.below(2) == 0 {
            let service = self.service;
            let command = if self.inputs.contains(&"restart_command") && effect == "change" {
                "\"{{ inputs.restart_command }}\"".to_owned()
            } else {
                format!("systemctl is-active {service}")
            };
            self.line(&format!("{indent}  command: {command}"));
        } else {
            let r = self.reference();
            self.line(&format!("{indent}  command:"));
            self.line(&format!(
                "{indent}    run: 'test -n \"$VALUE\" && echo \"checked $VALUE in $REGION\"'"
            ));
            self.line(&format!("{indent}    env:"));
            self.line(&format!("{indent}      VALUE: \"{r}\""));
            self.line(&format!(
                "{indent}      REGION: \"{{{{ inputs.env_file }}}}\""
            ));
            self.line(&format!("{indent}    cwd: /srv/{}", self.service));
            self.line(&format!("{indent}  expect:"));
            self.line(&format!("{indent}    exit_code: 0"));
            self.line(&format!("{indent}    stdout_contains: checked"));
        }
        self.explain(indent, &[1, 127]);
    }

    fn set_setting(&mut self, indent: &str) {
        let key = self.pick(SETTINGS);
        let r = self.reference();
        self.line(&format!("{indent}  set_setting:"));
        self.line(&format!("{indent}    file: \"{{{{ inputs.env_file }}}}\""));
        self.line(&format!("{indent}    key: {key}"));
        self.line(&format!("{indent}    value: \"{r}\""));
    }

    fn read_setting(&mut self, indent: &str) {
        let key = self.pick(SETTINGS);
        if self.rng.below(2) == 0 {
            self.line(&format!("{indent}  secret: true"));
        }
        self.line(&format!(
            "{indent}  read_setting: {{ file: \"{{{{ inputs.env_file }}}}\", key: {key} }}"
        ));
    }

    fn wait_for(&mut self, indent: &str) {
        let path = self.pick(PATHS);
        self.line(&format!("{indent}  wait_for:"));
        self.line(&format!("{indent}    http:"));
        self.line(&format!(
            "{indent}      url: \"{{{{ inputs.base_url }}}}/{path}\""
        ));
        self.line(&format!("{indent}    expect:"));
        self.line(&format!("{indent}      status: 200"));
        self.line(&format!("{indent}    interval: 5s"));
        self.line(&format!("{indent}    timeout: 3m"));
    }

    fn prompt(&mut self, indent: &str) {
        let s = self.sentence(6);
        self.line(&format!("{indent}  prompt:"));
        self.line(&format!("{indent}    message: \"{s}\""));
        if self.rng.below(2) == 0 {
            self.line(&format!("{indent}    choices: [yes-continue, stop]"));
        } else {
            self.line(&format!("{indent}    pattern: \"^[a-z0-9-]+$\""));
        }
    }

    /// A probe that needs everything before it, then an irreversible step gated on
    /// that probe's fresh pass and a confirmation.
    fn verified_irreversible(&mut self, indent: &str) {
        let service = self.service;
        let last = self
            .steps
            .last()
            .map(|(id, _)| id.clone())
            .unwrap_or_default();
        let verify = format!("verify_{service}_final");
        self.line(&format!("{indent}- id: {verify}"));
        self.line(&format!(
            "{indent}  title: Verify {service} end to end before the point of no return"
        ));
        self.line(&format!("{indent}  needs: [{last}]"));
        self.line(&format!("{indent}  http:"));
        self.line(&format!(
            "{indent}    url: \"{{{{ inputs.base_url }}}}/health\""
        ));
        self.line(&format!("{indent}  expect:"));
        self.line(&format!("{indent}    status: 200"));
        self.line(&format!(
            "{indent}    json: {{ status: ok, checks: {{ not_empty: true }} }}"
        ));
        self.line("");
        self.line(&format!("{indent}- id: decommission_{service}_old"));
        self.line(&format!(
            "{indent}  title: Decommission the old {service} deployment"
        ));
        self.line(&format!(
            "{indent}  needs: [{{ step: {verify}, within: 30m }}]"
        ));
        self.line(&format!("{indent}  effect: irreversible"));
        self.line(&format!("{indent}  confirm:"));
        self.line(&format!(
            "{indent}    message: Delete the old {service} deployment? This cannot be undone."
        ));
        self.line(&format!(
            "{indent}    phrase: \"{{{{ inputs.env_file }}}}\""
        ));
        self.line(&format!("{indent}  manual: |"));
        self.line(&format!(
            "{indent}    Delete the old {service} deployment in the console; the checks of {{{{ steps.{verify}.status }}}} passed."
        ));
        self.line("");
        self.steps.push((verify, Kind::HttpGet));
    }

    fn rollback(&mut self) {
        let setters: Vec<String> = self
            .steps
            .iter()
            .filter(|(_, k)| *k == Kind::SetSetting)
            .map(|(id, _)| id.clone())
            .collect();
        if setters.is_empty() {
            return;
        }
        self.line("rollback:");
        for id in setters {
            self.line(&format!("  - id: undo_{id}"));
            self.line(&format!("    title: Put back what {id} replaced"));
            self.line(&format!(
                "    when: \"{{{{ steps.{id}.outcome == 'passed' }}}}\""
            ));
            self.line(&format!("    restore_setting: {id}"));
        }
    }
}

/// xorshift64*: small, fast and the same on every machine.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        usize::try_from(x % n.max(1) as u64).unwrap_or(0)
    }
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
