//! How the cost grows with each dimension of the input: `cargo bench --bench
//! growth` (optionally `-- FAMILY`, e.g. `-- chain`). Each family builds inputs at
//! 1×, 4× and 16× of one dimension — steps, `needs` chain depth, `needs` density,
//! templated steps in a run, result size in a run, files in a directory, secrets
//! a run learns, misspelt step ids and literal tokens a file holds — runs the
//! real release binary on each (best of `RUNBOOK_BENCH_ROUNDS`, default 5) and
//! prints the cost per unit and the growth of time and peak memory per ×4 of
//! input. The target is near-linear: ×4 input → at most ×5 time and memory.
//!
//! With `RUNBOOK_BENCH_CALLGRIND=1` each run goes under `valgrind
//! --tool=callgrind` and the figures are instructions executed, not seconds:
//! the same for the same binary and input whatever else the machine runs, so
//! growth and the five-run spread can be shown on a loaded machine (memory is
//! not measured then). Rounds can be 1 (`RUNBOOK_BENCH_ROUNDS=1`): a count
//! does not vary the way a time does.
//!
//! Only ratios between sizes measured in one go mean much on a shared machine;
//! each family measures its three sizes back to back. `validate` families also
//! print the spread of five runs of their largest input (the same file must take
//! the same time every run).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// ×4 input may cost at most this many times more.
const TARGET_GROWTH: f64 = 5.0;

fn main() {
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_default();
    let rounds = std::env::var("RUNBOOK_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5usize)
        .max(1);
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_runbook"));
    // A tmpfs when there is one: the run families measure the engine, not fsync.
    let base = Path::new("/dev/shm");
    let dir = if base.is_dir() {
        tempfile::tempdir_in(base)
    } else {
        tempfile::tempdir()
    }
    .expect("a temp dir");
    println!(
        "binary: {}\ninputs in: {}\n",
        binary.display(),
        dir.path().display()
    );
    let server = server::start();
    let families: Vec<Family> = vec![
        Family::validate("steps", "step", [500, 2_000, 8_000], steps),
        Family::validate("chain", "step", [1_000, 4_000, 16_000], chain),
        Family::validate("density", "need", [2_000, 8_000, 32_000], density),
        Family::run("templates", "step", [250, 1_000, 4_000], templated),
        Family::run(
            "result-size",
            "KiB of results",
            [400, 1_600, 6_400],
            results,
        ),
        Family::files("files", "file", [250, 1_000, 4_000]),
        Family::run("secrets", "secret", [250, 1_000, 4_000], secrets),
        Family::invalid("misspelt", "step", [500, 2_000, 8_000], misspelt),
        Family::invalid("tokens", "token", [500, 2_000, 8_000], tokens),
    ];
    let mut table = String::new();
    for family in families.iter().filter(|f| f.name.contains(filter.as_str())) {
        family.measure(&binary, dir.path(), &server, rounds, &mut table);
    }
    println!("{table}");
}

/// What one family varies, and how it runs an input.
struct Family {
    name: &'static str,
    unit: &'static str,
    sizes: [usize; 3],
    kind: Kind,
}

enum Kind {
    /// `runbook validate FILE` on one generated file.
    Validate(fn(usize) -> String),
    /// The same on a file with that many problems (`validate` exits 1).
    Invalid(fn(usize) -> String),
    /// `runbook run FILE` against the loopback server.
    Run(fn(usize, &str) -> String),
    /// `runbook validate DIR --format json` on that many files.
    Files,
}

/// One measured size: best wall time, best CPU time (user + system, 10 ms
/// resolution), peak RSS in KiB.
#[derive(Clone, Copy)]
struct Measured {
    wall: Duration,
    cpu: Option<f64>,
    peak_kb: Option<u64>,
    /// Under callgrind: the instructions executed.
    instructions: Option<u64>,
}

impl Family {
    fn validate(
        name: &'static str,
        unit: &'static str,
        sizes: [usize; 3],
        make: fn(usize) -> String,
    ) -> Self {
        Family {
            name,
            unit,
            sizes,
            kind: Kind::Validate(make),
        }
    }

    fn run(
        name: &'static str,
        unit: &'static str,
        sizes: [usize; 3],
        make: fn(usize, &str) -> String,
    ) -> Self {
        Family {
            name,
            unit,
            sizes,
            kind: Kind::Run(make),
        }
    }

    fn invalid(
        name: &'static str,
        unit: &'static str,
        sizes: [usize; 3],
        make: fn(usize) -> String,
    ) -> Self {
        Family {
            name,
            unit,
            sizes,
            kind: Kind::Invalid(make),
        }
    }

    fn files(name: &'static str, unit: &'static str, sizes: [usize; 3]) -> Self {
        Family {
            name,
            unit,
            sizes,
            kind: Kind::Files,
        }
    }

    fn measure(&self, binary: &Path, dir: &Path, server: &str, rounds: usize, table: &mut String) {
        let mut results = Vec::new();
        let mut spread = None;
        for (i, &size) in self.sizes.iter().enumerate() {
            let place = dir.join(format!("{}-{size}", self.name));
            std::fs::create_dir_all(&place).expect("a directory for the input");
            let args: Vec<String> = match &self.kind {
                Kind::Validate(make) | Kind::Invalid(make) => {
                    let file = place.join(format!("{}.yaml", self.name));
                    std::fs::write(&file, make(size)).expect("write the input");
                    vec!["validate".into(), file.display().to_string()]
                }
                Kind::Run(make) => {
                    let file = place.join(format!("{}.yaml", self.name));
                    std::fs::write(&file, make(size, server)).expect("write the input");
                    vec!["run".into(), file.display().to_string(), "--yes".into()]
                }
                Kind::Files => {
                    for n in 0..size {
                        let id = format!("file_{n}");
                        std::fs::write(place.join(format!("{id}.yaml")), steps_named(&id, 20))
                            .expect("write a file");
                    }
                    vec![
                        "validate".into(),
                        place.display().to_string(),
                        "--format".into(),
                        "json".into(),
                    ]
                }
            };
            let exit = i32::from(matches!(self.kind, Kind::Invalid(_)));
            let runs: Vec<Measured> = (0..rounds)
                .map(|_| once(binary, &args, &place, exit))
                .collect();
            results.push(best(&runs));
            if i == 2 && matches!(self.kind, Kind::Validate(_)) {
                let five: Vec<f64> = (0..5)
                    .map(|_| cost(&once(binary, &args, &place, exit)))
                    .collect();
                spread = Some(spread_of(&five));
            }
            if i == 2 && matches!(self.kind, Kind::Files) {
                let mut one = args.clone();
                one.extend(["--jobs".into(), "1".into()]);
                let single = best(
                    &(0..rounds)
                        .map(|_| once(binary, &one, &place, exit))
                        .collect::<Vec<_>>(),
                );
                spread = Some(cost(&single) / cost(&results[2]));
            }
        }
        let _ = writeln!(table, "{} (per {}):", self.name, self.unit);
        for (size, m) in self.sizes.iter().zip(&results) {
            if let Some(count) = m.instructions {
                let _ = writeln!(
                    table,
                    "  {size:>7} {:>10.1} M instructions  {:>9.1} k/{}",
                    ratio(count, 1_000_000),
                    ratio(count, 1_000) / ratio(*size as u64, 1),
                    self.unit,
                );
                continue;
            }
            let per = m.wall.as_secs_f64() * 1e6 / ratio(*size as u64, 1);
            let _ = writeln!(
                table,
                "  {size:>7} {:>10}  {per:>9.1} µs/{}   cpu {}   peak {}",
                format!("{:.1} ms", m.wall.as_secs_f64() * 1e3),
                self.unit,
                m.cpu.map_or("?".to_owned(), |s| format!("{s:.2} s")),
                m.peak_kb
                    .map_or("?".to_owned(), |kb| format!("{:.1} MB", ratio(kb, 1024))),
            );
        }
        for step in 0..2 {
            let (a, b) = (results[step], results[step + 1]);
            let time = cost(&b) / cost(&a);
            let memory = match (a.peak_kb, b.peak_kb) {
                (Some(a), Some(b)) => ratio(b, a),
                _ => 0.0,
            };
            let verdict = if time <= TARGET_GROWTH && memory <= TARGET_GROWTH {
                "PASS"
            } else {
                "FAIL"
            };
            let _ = writeln!(
                table,
                "  ×4 ({} → {}): {} ×{time:.2}, memory {}  {verdict} (target ≤ ×{TARGET_GROWTH})",
                self.sizes[step],
                self.sizes[step + 1],
                if callgrind() { "instructions" } else { "time" },
                if callgrind() {
                    "not measured".to_owned()
                } else {
                    format!("×{memory:.2}")
                },
            );
        }
        match (&self.kind, spread) {
            (Kind::Validate(_), Some(s)) => {
                let _ = writeln!(
                    table,
                    "  spread of 5 runs at {}: {:.2}%{}",
                    self.sizes[2],
                    s * 100.0,
                    if callgrind() { " of instructions" } else { "" }
                );
            }
            (Kind::Files, Some(s)) => {
                let _ = writeln!(
                    table,
                    "  --jobs 1 / default jobs at {} files: {s:.2}×",
                    self.sizes[2]
                );
            }
            _ => {}
        }
        table.push('\n');
    }
}

/// One run of the binary: wall time and peak RSS (from `/usr/bin/time` when it
/// is installed). Every run must end with `exit`: another ending measures
/// something else.
fn once(binary: &Path, args: &[String], dir: &Path, exit: i32) -> Measured {
    if callgrind() {
        return counted(binary, args, dir, exit);
    }
    let time = Path::new("/usr/bin/time");
    let mut command = if time.is_file() {
        let mut c = Command::new(time);
        c.args(["-f", "%M %U %S"]).arg(binary);
        c
    } else {
        Command::new(binary)
    };
    command
        .args(args)
        .current_dir(dir)
        .env("RUNBOOK_STATE_DIR", dir.join("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let output = command.output().expect("run the runbook binary");
    let wall = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(exit),
        "{args:?} did not exit {exit}:\n{stderr}"
    );
    let fields: Vec<&str> = stderr
        .lines()
        .last()
        .unwrap_or_default()
        .split(' ')
        .collect();
    let number = |i: usize| fields.get(i).and_then(|f| f.trim().parse::<f64>().ok());
    let peak_kb = fields.first().and_then(|f| f.trim().parse().ok());
    let cpu = number(1).zip(number(2)).map(|(user, system)| user + system);
    Measured {
        wall,
        cpu,
        peak_kb,
        instructions: None,
    }
}

/// Whether to count instructions instead of timing (`RUNBOOK_BENCH_CALLGRIND=1`).
fn callgrind() -> bool {
    std::env::var("RUNBOOK_BENCH_CALLGRIND").is_ok_and(|v| v == "1")
}

/// One run under `valgrind --tool=callgrind`: the instructions the binary
/// executed, which another process on the machine does not change — the same
/// binary on the same input counts the same, so growth and run-to-run spread
/// show under any load. `wall` is valgrind's (tens of times slower), kept only
/// so the table has a figure.
fn counted(binary: &Path, args: &[String], dir: &Path, exit: i32) -> Measured {
    let started = Instant::now();
    let output = Command::new("valgrind")
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(binary)
        .args(args)
        .current_dir(dir)
        .env("RUNBOOK_STATE_DIR", dir.join("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run valgrind (Debian: apt-get install valgrind)");
    let wall = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(exit),
        "{args:?} did not exit {exit}:\n{stderr}"
    );
    // `==PID== Collected : 123456789`
    let instructions = stderr
        .lines()
        .find_map(|line| line.split("Collected :").nth(1))
        .and_then(|n| n.trim().parse().ok());
    assert!(
        instructions.is_some(),
        "no instruction count from callgrind:\n{stderr}"
    );
    Measured {
        wall,
        cpu: None,
        peak_kb: None,
        instructions,
    }
}

fn best(runs: &[Measured]) -> Measured {
    let wall = runs.iter().map(|m| m.wall).min().unwrap_or_default();
    let cpu = runs.iter().filter_map(|m| m.cpu).reduce(f64::min);
    let peak_kb = runs.iter().filter_map(|m| m.peak_kb).max();
    let instructions = runs.iter().filter_map(|m| m.instructions).min();
    Measured {
        wall,
        cpu,
        peak_kb,
        instructions,
    }
}

/// `a / b` for counts far below 2^52.
#[allow(clippy::cast_precision_loss)]
fn ratio(a: u64, b: u64) -> f64 {
    a as f64 / b as f64
}

/// What a run cost: instructions under callgrind, else seconds of wall time.
fn cost(measured: &Measured) -> f64 {
    measured
        .instructions
        .map_or_else(|| measured.wall.as_secs_f64(), |count| ratio(count, 1))
}

/// (most − least) / least.
fn spread_of(costs: &[f64]) -> f64 {
    let min = costs.iter().copied().reduce(f64::min).unwrap_or(f64::NAN);
    let max = costs.iter().copied().reduce(f64::max).unwrap_or(f64::NAN);
    (max - min) / min
}

// ---------------------------------------------------------------------------
// Inputs. Every one is valid, so `validate` exits 0 and `run` passes (a
// failure would measure something else, and stops the bench), but for the
// `invalid` families, whose problems are what they measure.

/// `count` independent steps: manual notes and templated GET probes.
fn steps(count: usize) -> String {
    steps_named("steps", count)
}

fn steps_named(id: &str, count: usize) -> String {
    let mut out = format!(
        "runbook: {id}\ntitle: Independent steps\ninputs:\n  api: {{ default: \"https://api.example.com\" }}\nsteps:\n"
    );
    for i in 0..count {
        if i % 2 == 0 {
            let _ = writeln!(
                out,
                "  - id: note_{i}\n    manual: Look at item {i} and write down what you see."
            );
        } else {
            let _ = writeln!(
                out,
                "  - id: check_{i}\n    http: {{ url: \"{{{{ inputs.api }}}}/items/{i}\" }}\n    expect: {{ status: 200 }}"
            );
        }
    }
    out
}

/// A `needs` chain of `depth` steps: change, probe, probe, …, with an
/// irreversible step (confirmed, gated on the probe before it) every 30 steps.
fn chain(depth: usize) -> String {
    let mut out = "runbook: chain\ntitle: A long chain\nsteps:\n".to_owned();
    for i in 0..depth {
        let needs = if i == 0 {
            String::new()
        } else {
            format!("\n    needs: [s{}]", i - 1)
        };
        let body = match i % 3 {
            0 => format!("set_setting: {{ file: .env, key: K{i}, value: v }}"),
            1 => format!("effect: probe\n    command: grep -q K{} .env", i - 1),
            _ if i % 30 == 29 => {
                format!("effect: irreversible\n    confirm: true\n    command: echo {i}")
            }
            _ => format!("effect: probe\n    command: grep -q K{} .env", i - 2),
        };
        let _ = writeln!(out, "  - id: s{i}{needs}\n    {body}");
    }
    out
}

/// 400 steps with about `needs` entries in all: each needs the step before and
/// up to `needs / 400` others spread back through the file. Every 20th step is
/// irreversible and needs only the probe before it, which comes after everything.
fn density(needs: usize) -> String {
    const STEPS: usize = 400;
    let per_step = needs / STEPS;
    let mut out = "runbook: density\ntitle: A dense DAG\nsteps:\n".to_owned();
    for i in 0..STEPS {
        let irreversible = i % 20 == 0 && i > 0;
        let mut list: Vec<usize> = if irreversible {
            Vec::new()
        } else {
            (1..=per_step.min(i))
                .map(|k| i - 1 - (k * 7919) % i)
                .collect()
        };
        if i > 0 {
            list.push(i - 1);
        }
        list.sort_unstable();
        list.dedup();
        let needs = if list.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = list.iter().map(|j| format!("d{j}")).collect();
            format!("\n    needs: [{}]", names.join(", "))
        };
        let body = if irreversible {
            format!("effect: irreversible\n    confirm: true\n    command: echo {i}")
        } else if i % 2 == 0 {
            format!("set_setting: {{ file: .env, key: K{i}, value: v }}")
        } else {
            format!("effect: probe\n    command: grep -q K{} .env", i - 1)
        };
        let _ = writeln!(out, "  - id: d{i}{needs}\n    {body}");
    }
    out
}

/// `count` GET steps, each URL templated from the step before's results.
fn templated(count: usize, server: &str) -> String {
    let mut out = format!(
        "runbook: templates\ntitle: Templated steps\ninputs:\n  base: {{ default: \"{server}\" }}\nsteps:\n"
    );
    for i in 0..count {
        let previous = if i == 0 {
            "0".to_owned()
        } else {
            format!("{{{{ steps.t{}.json.n }}}}", i - 1)
        };
        let _ = writeln!(
            out,
            "  - id: t{i}\n    http: {{ url: \"{{{{ inputs.base }}}}/n/{i}?after={previous}\" }}\n    expect: {{ status: 200 }}"
        );
    }
    out
}

/// 100 GET steps whose results total `kib` KiB (each response carries
/// `kib / 100` KiB), each templated from the step before's results.
fn results(kib: usize, server: &str) -> String {
    let each = kib * 1024 / 100;
    let mut out = format!(
        "runbook: results\ntitle: Large results\ninputs:\n  base: {{ default: \"{server}\" }}\nsteps:\n"
    );
    for i in 0..100 {
        let previous = if i == 0 {
            "0".to_owned()
        } else {
            format!("{{{{ steps.r{}.json.n }}}}", i - 1)
        };
        let _ = writeln!(
            out,
            "  - id: r{i}\n    http: {{ url: \"{{{{ inputs.base }}}}/blob/{each}?after={previous}\" }}\n    expect: {{ status: 200 }}"
        );
    }
    out
}

/// `count` secret inputs (each a value the redactor learns in all its forms)
/// and one step.
fn secrets(count: usize, _server: &str) -> String {
    let mut out = "runbook: secrets\ntitle: Many secrets\ninputs:\n".to_owned();
    for i in 0..count {
        let _ = writeln!(
            out,
            "  s{i}: {{ secret: true, default: \"{{{{ 'value-{i:06}-' ~ 'of-a-secret' }}}}\" }}"
        );
    }
    out.push_str("steps:\n  - id: note\n    manual: Nothing to see.\n");
    out
}

/// `count` steps, each needing the one before it by a misspelt id (two
/// letters swapped) and reading it as `steps.<misspelt>`: two did-you-means a
/// step, each among all the steps before it.
fn misspelt(count: usize) -> String {
    let mut out = "runbook: misspelt\ntitle: Misspelt ids\nsteps:\n".to_owned();
    for i in 0..count {
        if i == 0 {
            let _ = writeln!(out, "  - id: deploy_{i:06}\n    manual: Start.");
            continue;
        }
        let typo = format!("depoly_{:06}", i - 1);
        let _ = writeln!(
            out,
            "  - id: deploy_{i:06}\n    needs: [{typo}]\n    manual: \"After {{{{ steps.{typo}.outcome }}}}.\""
        );
    }
    out
}

/// `count` steps, each with a token-looking literal in its command: one
/// finding a step, each checked against those found before.
fn tokens(count: usize) -> String {
    let mut out = "runbook: tokens\ntitle: Literal tokens\nsteps:\n".to_owned();
    for i in 0..count {
        let _ = writeln!(
            out,
            "  - id: call_{i}\n    command: \"curl -H 'Authorization: Bearer cfut_{i:020}abcdefgh' https://api.example.com/{i}\""
        );
    }
    out
}

/// The loopback server the run families call: `/n/{n}` answers `{"n": n}`,
/// `/blob/{bytes}` a JSON object of about that many bytes.
mod server {
    use axum::Router;
    use axum::extract::Path;
    use axum::routing::get;

    pub fn start() -> String {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("a runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind a loopback port");
                let address = listener.local_addr().expect("an address");
                sender.send(address).expect("main waits for the address");
                let router =
                    Router::new()
                        .route(
                            "/n/{n}",
                            get(|Path(n): Path<u64>| async move {
                                axum::Json(serde_json::json!({"n": n}))
                            }),
                        )
                        .route(
                            "/blob/{bytes}",
                            get(|Path(bytes): Path<usize>| async move {
                                let words: Vec<String> =
                                    (0..bytes / 12).map(|i| format!("w{i:09}")).collect();
                                axum::Json(serde_json::json!({"n": bytes, "words": words}))
                            }),
                        );
                let _ = axum::serve(listener, router).await;
            });
        });
        format!("http://{}", receiver.recv().expect("the server's address"))
    }
}
