//! `cargo bench --bench compare`: `runbook validate` side by side with what people
//! check the same kind of file with instead, each tool on an input of its own
//! language of the same size, in one run:
//!
//! - `runbook validate` on a bundled runbook, and on a directory of generated
//!   runbooks (`support/runbooks.rs`, the validate bench's);
//! - `actionlint` on GitHub workflows of the same sizes (`compare/workflows.rs`),
//!   with its shellcheck and pyflakes passes off (`runbook` does not lint the shell
//!   either, and whether they run would depend on what else is on the PATH);
//! - `yamllint` (its `relaxed` configuration) on the same runbooks;
//! - `check-jsonschema --schemafile` with runbook's own JSON Schema (`runbook
//!   schema`) on the same runbooks;
//! - `ansible-playbook --syntax-check` on playbooks of the same sizes doing the same
//!   steps (`compare/playbooks.rs`).
//!
//! One file is timed from process start to exit, many times (at least five runs and
//! half a second a round); a directory is one process over all its files, per round.
//! The tools take turns within each round, and each ratio to runbook is the median of
//! the per-round ratios: this machine's speed drifts over minutes, and a round's
//! figures are taken close together. CPU time is of the child processes
//! (`/proc/self/stat`), so it does not count waiting for a core.
//!
//! The other tools come from a private venv, `target/compare-venv`, pinned by
//! `benches/compare-tools.sh`; a tool not there is shown as not installed, never
//! left out. Every tool must pass every input (exit 0): a check that stopped at the
//! first problem would not have read the rest.
//!
//! Environment: `RUNBOOK_COMPARE_FILES` (files in each directory, default 500),
//! `RUNBOOK_COMPARE_ROUNDS` (default 3). The default run takes about seven minutes
//! on a loaded 2-core machine, most of it the Python tools on their directories.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "compare/playbooks.rs"]
mod playbooks;
#[path = "support/rng.rs"]
mod rng;
#[path = "support/runbooks.rs"]
mod runbooks;
#[path = "compare/text.rs"]
mod text;
#[path = "compare/workflows.rs"]
mod workflows;

use rng::Rng;

/// The one file: a bundled procedure of a common size (6.6 KB, 13 steps and a
/// rollback of 4), with no child runbook, so every tool reads exactly one file.
const BUNDLED: &str = "runbooks/procedures/nginx-certificate-renewal.yaml";
const VENV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/compare-venv");
const MIN_RUNS: usize = 5;
const MIN_ROUND: Duration = Duration::from_millis(500);
const MAX_RUNS: usize = 500;

fn main() {
    let count = env_number("RUNBOOK_COMPARE_FILES", 500).max(1);
    let rounds = env_number("RUNBOOK_COMPARE_ROUNDS", 3).max(1);
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_runbook"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let load_before = uptime();

    let dir = tempfile::tempdir().expect("a temp dir");
    let inputs = Inputs::write(&binary, &root.join(BUNDLED), dir.path(), count);
    let tools = Tool::all(&binary, &inputs, dir.path());
    println!(
        "one file: {}; directories of {count} files: runbooks {}, workflows {}, playbooks {}",
        inputs.one_bytes(),
        mb(inputs.runbooks.bytes),
        mb(inputs.workflows.bytes),
        mb(inputs.playbooks.bytes),
    );
    for tool in &tools {
        println!("{:<32} {}", tool.name, tool.version());
    }

    // A first run of each, untimed: Python compiles its modules, the disk cache fills.
    for tool in &tools {
        if let Some(program) = &tool.program {
            run(program, &tool.one_args(), &tool.env);
            run(program, &tool.set_args(), &tool.env);
        }
    }
    let mut measured: Vec<Measured> = tools.iter().map(|_| Measured::default()).collect();
    for round in 0..rounds {
        for (tool, measured) in tools.iter().zip(&mut measured) {
            let Some(program) = &tool.program else {
                continue;
            };
            measured
                .one
                .push(Runs::measure(program, &tool.one_args(), &tool.env));
            measured
                .set
                .push(Runs::once(program, &tool.set_args(), &tool.env));
        }
        println!("round {} of {rounds} done: {}", round + 1, uptime());
    }

    let mut table = String::new();
    let _ = writeln!(
        table,
        "| tool (input) | one file: median | CPU | × runbook (wall / CPU) | {count} files: MB/s | MB/s of CPU | × runbook (wall / CPU) |"
    );
    let _ = writeln!(table, "|---|---|---|---|---|---|---|");
    for (tool, figures) in tools.iter().zip(&measured) {
        let _ = writeln!(table, "{}", figures.row(tool, &tools[0], &measured[0]));
    }
    println!("\n{table}");
    println!("before: {load_before}\nafter:  {}", uptime());
}

/// What every tool reads: the one file and the directory, in its own language.
struct Inputs {
    runbook: PathBuf,
    workflow: PathBuf,
    playbook: PathBuf,
    schema: PathBuf,
    runbooks: Set,
    workflows: Set,
    playbooks: Set,
}

/// A directory of generated files and their total size.
struct Set {
    dir: PathBuf,
    files: Vec<PathBuf>,
    bytes: usize,
}

impl Inputs {
    fn write(binary: &Path, bundled: &Path, dir: &Path, count: usize) -> Inputs {
        let runbook = dir.join("one").join("runbook.yaml");
        std::fs::create_dir_all(dir.join("one")).expect("create the one-file dir");
        std::fs::copy(bundled, &runbook).expect("copy the bundled runbook");
        let size = text_len(&runbook);
        // Each language's generator gets its own seed: the inputs are the same on
        // every machine, and do not depend on each other.
        let workflow = dir.join("one").join("workflow.yml");
        std::fs::write(&workflow, workflows::workflow(&mut Rng(0x5eed_0001), size))
            .expect("write the workflow");
        let playbook = dir.join("one").join("playbook.yml");
        std::fs::write(&playbook, playbooks::playbook(&mut Rng(0x5eed_0002), size))
            .expect("write the playbook");

        let schema = dir.join("one").join("runbook.schema.json");
        let output = Command::new(binary)
            .arg("schema")
            .stdin(Stdio::null())
            .output()
            .expect("run runbook schema");
        assert!(output.status.success(), "runbook schema failed");
        std::fs::write(&schema, output.stdout).expect("write the schema");

        let runbooks_dir = dir.join("runbooks");
        let (files, sizes) = runbooks::generate(&runbooks_dir, count);
        let runbooks = Set {
            dir: runbooks_dir,
            bytes: sizes.iter().sum(),
            files,
        };
        let workflows = Set::write(
            &dir.join("workflows"),
            "yml",
            &sizes,
            0x5eed_0003,
            workflows::workflow,
        );
        let playbooks = Set::write(
            &dir.join("playbooks"),
            "yml",
            &sizes,
            0x5eed_0004,
            playbooks::playbook,
        );
        Inputs {
            runbook,
            workflow,
            playbook,
            schema,
            runbooks,
            workflows,
            playbooks,
        }
    }

    /// The one file's size, and the others', which are written to it.
    fn one_bytes(&self) -> String {
        format!(
            "runbook {}, workflow {}, playbook {}",
            text_len(&self.runbook),
            text_len(&self.workflow),
            text_len(&self.playbook)
        )
    }
}

impl Set {
    /// One file for each of `sizes`, of at least that size.
    fn write(
        dir: &Path,
        extension: &str,
        sizes: &[usize],
        seed: u64,
        generate: impl Fn(&mut Rng, usize) -> String,
    ) -> Set {
        std::fs::create_dir_all(dir).expect("create a bench dir");
        let mut rng = Rng(seed);
        let mut files = Vec::with_capacity(sizes.len());
        let mut bytes = 0;
        for (n, size) in sizes.iter().enumerate() {
            let text = generate(&mut rng, *size);
            let path = dir.join(format!("{n:05}.{extension}"));
            std::fs::write(&path, &text).expect("write a generated file");
            bytes += text.len();
            files.push(path);
        }
        Set {
            dir: dir.to_owned(),
            files,
            bytes,
        }
    }
}

fn text_len(path: &Path) -> usize {
    std::fs::read(path).map_or(0, |bytes| bytes.len())
}

/// How one tool is run: on the one file, and on its directory.
struct Tool {
    name: &'static str,
    /// What it reads, for the table.
    input: &'static str,
    /// `None` when it is not installed.
    program: Option<PathBuf>,
    /// Options, before the file or files.
    args: Vec<OsString>,
    one: PathBuf,
    set: Vec<OsString>,
    set_bytes: usize,
    env: Vec<(&'static str, OsString)>,
}

impl Tool {
    fn all(binary: &Path, inputs: &Inputs, dir: &Path) -> Vec<Tool> {
        let venv = Path::new(VENV).join("bin");
        let files = |set: &Set| -> Vec<OsString> {
            set.files.iter().map(|f| f.as_os_str().to_owned()).collect()
        };
        let args = |args: &[&str]| -> Vec<OsString> { args.iter().map(OsString::from).collect() };
        // Ansible keeps its temp files and caches under its home: a fresh one for
        // each run of the bench, not the user's.
        let ansible_home = dir.join("ansible");
        vec![
            Tool {
                name: "runbook validate",
                input: "the runbook",
                program: Some(binary.to_owned()),
                args: args(&["validate"]),
                one: inputs.runbook.clone(),
                // A directory, as people run it.
                set: vec![inputs.runbooks.dir.as_os_str().to_owned()],
                set_bytes: inputs.runbooks.bytes,
                env: Vec::new(),
            },
            Tool {
                name: "actionlint",
                input: "a workflow",
                program: found(&venv, "actionlint"),
                args: args(&["-shellcheck=", "-pyflakes=", "-no-color"]),
                one: inputs.workflow.clone(),
                set: files(&inputs.workflows),
                set_bytes: inputs.workflows.bytes,
                env: Vec::new(),
            },
            Tool {
                name: "yamllint",
                input: "the runbook",
                program: found(&venv, "yamllint"),
                args: args(&["--no-warnings", "-d", "relaxed"]),
                one: inputs.runbook.clone(),
                set: files(&inputs.runbooks),
                set_bytes: inputs.runbooks.bytes,
                env: Vec::new(),
            },
            Tool {
                name: "check-jsonschema",
                input: "the runbook",
                program: found(&venv, "check-jsonschema"),
                args: vec!["--schemafile".into(), inputs.schema.as_os_str().to_owned()],
                one: inputs.runbook.clone(),
                set: files(&inputs.runbooks),
                set_bytes: inputs.runbooks.bytes,
                env: Vec::new(),
            },
            Tool {
                name: "ansible-playbook --syntax-check",
                input: "a playbook",
                program: found(&venv, "ansible-playbook"),
                args: args(&["--syntax-check", "-i", "localhost,"]),
                one: inputs.playbook.clone(),
                set: files(&inputs.playbooks),
                set_bytes: inputs.playbooks.bytes,
                env: vec![
                    ("ANSIBLE_HOME", ansible_home.clone().into_os_string()),
                    (
                        "ANSIBLE_LOCAL_TEMP",
                        ansible_home.join("tmp").into_os_string(),
                    ),
                    ("ANSIBLE_NOCOLOR", "1".into()),
                ],
            },
        ]
    }

    fn one_args(&self) -> Vec<OsString> {
        let mut args = self.args.clone();
        args.push(self.one.as_os_str().to_owned());
        args
    }

    fn set_args(&self) -> Vec<OsString> {
        let mut args = self.args.clone();
        args.extend(self.set.iter().cloned());
        args
    }

    fn version(&self) -> String {
        self.program.as_deref().map_or_else(
            || "not installed (run benches/compare-tools.sh)".to_owned(),
            version,
        )
    }
}

/// What one tool measured, round by round.
#[derive(Default)]
struct Measured {
    one: Vec<Runs>,
    set: Vec<Runs>,
}

impl Measured {
    /// The tool's row: medians over the rounds, and the median of its per-round
    /// ratios to runbook's figures of the same round.
    fn row(&self, tool: &Tool, base_tool: &Tool, base: &Measured) -> String {
        let name = format!("{} ({})", tool.name, tool.input);
        if tool.program.is_none() {
            return format!("| {name} | {} | | | | | |", tool.version());
        }
        // The directories differ a little in size: compare seconds per megabyte.
        let megabytes = float(tool.set_bytes) / 1e6;
        let base_megabytes = float(base_tool.set_bytes) / 1e6;
        let per_mb = |runs: &Runs, megabytes: f64| Runs {
            wall: runs.wall.iter().map(|w| w / megabytes).collect(),
            cpu: runs.cpu / megabytes,
        };
        let set: Vec<Runs> = self.set.iter().map(|r| per_mb(r, megabytes)).collect();
        let base_set: Vec<Runs> = base.set.iter().map(|r| per_mb(r, base_megabytes)).collect();
        format!(
            "| {name} | {} | {} | {} | {:.2} | {:.2} | {} |",
            ms(median(self.one.iter().map(Runs::median))),
            ms(median(self.one.iter().map(Runs::cpu_each))),
            ratios(&self.one, &base.one),
            1.0 / median(set.iter().map(Runs::median)),
            1.0 / median(set.iter().map(Runs::cpu_each)),
            ratios(&set, &base_set),
        )
    }
}

/// The median of the per-round ratios to runbook's, in wall time and in CPU time.
fn ratios(runs: &[Runs], base: &[Runs]) -> String {
    let wall = median(runs.iter().zip(base).map(|(a, b)| a.median() / b.median()));
    let cpu = median(
        runs.iter()
            .zip(base)
            .map(|(a, b)| a.cpu_each() / b.cpu_each()),
    );
    format!("{} / {}", times(wall), times(cpu))
}

/// The tool in the venv, if it is there.
fn found(venv: &Path, name: &str) -> Option<PathBuf> {
    let path = venv.join(name);
    path.is_file().then_some(path)
}

/// The first line of `PROGRAM --version`.
fn version(program: &Path) -> String {
    Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()
        .and_then(|output| {
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "?".to_owned())
}

/// The runs of one round: wall seconds of each, and the children's CPU seconds of all.
struct Runs {
    wall: Vec<f64>,
    cpu: f64,
}

impl Runs {
    /// Runs until there are at least `MIN_RUNS` and `MIN_ROUND` has passed: a
    /// 2 ms process needs hundreds of runs for the CPU clock's 10 ms ticks to add
    /// up to a figure.
    fn measure(program: &Path, args: &[OsString], env: &[(&str, OsString)]) -> Runs {
        let cpu = children_cpu();
        let started = Instant::now();
        let mut wall = Vec::new();
        while wall.len() < MIN_RUNS || (started.elapsed() < MIN_ROUND && wall.len() < MAX_RUNS) {
            wall.push(run(program, args, env).as_secs_f64());
        }
        Runs {
            cpu: children_cpu() - cpu,
            wall,
        }
    }

    fn once(program: &Path, args: &[OsString], env: &[(&str, OsString)]) -> Runs {
        let cpu = children_cpu();
        let wall = run(program, args, env).as_secs_f64();
        Runs {
            cpu: children_cpu() - cpu,
            wall: vec![wall],
        }
    }

    fn median(&self) -> f64 {
        median(self.wall.iter().copied())
    }

    fn cpu_each(&self) -> f64 {
        self.cpu / float(self.wall.len())
    }
}

/// Runs the tool to its exit, which must be 0: these inputs are all clean.
fn run(program: &Path, args: &[OsString], env: &[(&str, OsString)]) -> Duration {
    let started = Instant::now();
    let output = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("start a tool");
    let elapsed = started.elapsed();
    assert!(
        output.status.success(),
        "{} exited with {} on a clean input:\n{}{}",
        program.display(),
        output.status,
        tail(&output.stdout),
        tail(&output.stderr)
    );
    elapsed
}

/// The last lines of an output, enough to see what a tool objected to.
fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n") + "\n"
}

/// The CPU seconds of this process's waited-for children so far (`/proc/self/stat`,
/// in clock ticks of 10 ms).
fn children_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces:
    // cutime and cstime are the 16th and 17th fields.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // USER_HZ, which /proc reports in, is 100 on Linux.
    (ticks(13) + ticks(14)) / 100.0
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 0 => f64::midpoint(values[middle - 1], values[middle]),
        _ => values[middle],
    }
}

fn uptime() -> String {
    Command::new("uptime").output().map_or_else(
        |_| "uptime: not available".to_owned(),
        |output| String::from_utf8_lossy(&output.stdout).trim().to_owned(),
    )
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(seconds: f64) -> String {
    if seconds < 0.1 {
        format!("{:.2} ms", seconds * 1e3)
    } else {
        format!("{:.0} ms", seconds * 1e3)
    }
}

fn mb(bytes: usize) -> String {
    format!("{:.1} MB", float(bytes) / 1e6)
}

fn times(ratio: f64) -> String {
    if ratio < 10.0 {
        format!("{ratio:.2}×")
    } else {
        format!("{ratio:.0}×")
    }
}

/// Counts as floats, for rates and averages: they are far below 2^52.
#[allow(clippy::cast_precision_loss)]
fn float(n: usize) -> f64 {
    n as f64
}
