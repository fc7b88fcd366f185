//! `cargo bench --bench engine`: how fast the engine runs a real runbook, end to end,
//! with the release binary (`runbook run`, non-interactive, `RUNBOOK_STATE_DIR` in
//! a temp dir on the repository's disk, under `target/tmp`).
//!
//! 1. **Fan-out.** A loopback axum server (in this process, on its own tokio
//!    runtime) serves `GET /items` (a JSON list of 1,000 items) and answers each
//!    `GET /items/{n}` after 20 ms. The runbook fetches the list, then checks every
//!    item with `for_each` + `concurrency: 16` + `expect: {status: 200}`. The wall
//!    time is compared with the ideal 1,000 × 20 ms / 16 = 1.25 s (target ≤ 1.3×),
//!    and the server reports the most requests it ever held at once (≤ 16), how
//!    many connections it saw and how long it really held each one. The journal's
//!    timestamps split the wall time into: process start → the fan-out step
//!    starts → its first request arrives → its last response leaves → the step
//!    finishes → the process exits.
//! 2. **Engine overhead.** 1,000 `prompt` steps (effect `none`), answered by an
//!    `--answers` file — the cheapest real action: no file, no socket, no process,
//!    one map lookup — against the fsync floor measured here on the same disk (a
//!    ~300-byte line appended and `sync_data`ed, like the journal does per event).
//!    Each step writes two events (`step_started`, `step_finished`), so the floor
//!    per step is 2 fsyncs. Beside it, to say where the rest goes: 10 steps (fixed
//!    costs), 1,000 `read_setting` steps (the next cheapest action), the same
//!    runbooks with the journal on tmpfs (`/dev/shm`: the engine without the
//!    disk), 2,000 prompts on tmpfs (the engine's cost per step must not grow
//!    with the runbook), and the CPU time the child used (user / system, from
//!    `/proc/self/stat`, in 10 ms ticks).
//!
//! The binary is the one cargo builds for benches (`CARGO_BIN_EXE_runbook`).
//! `cargo bench --bench engine -- fan-out` (or `-- overhead`) runs one section.
//! Environment: `RUNBOOK_BENCH_ROUNDS` (runs of each measurement; default 3),
//! `RUNBOOK_BENCH_ITEMS` (fan-out items; default 1000, to see how it scales).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{ConnectInfo, Path as UrlPath, State};
use axum::routing::get;
use serde_json::{Value as Json, json};

/// The issue's fan-out: 1,000 items, 20 ms each, 16 at a time, within 1.3× ideal.
const ITEMS: usize = 1_000;
const HOLD: Duration = Duration::from_millis(20);
const CONCURRENCY: usize = 16;
const MAX_FAN_OUT_RATIO: f64 = 1.3;
/// The engine overhead runbook, and the one that shows its fixed costs.
const STEPS: usize = 1_000;
const FEW_STEPS: usize = 10;
/// The fsync floor: 1,000 appends of a journal-sized line, each synced.
const FLOOR_EVENTS: usize = 1_000;
const LINE_BYTES: usize = 300;
/// Twice the steps may cost at most this much more per step: the engine's own
/// work per step must not grow with the runbook.
const MAX_STEP_GROWTH: f64 = 1.5;

fn main() {
    // `cargo bench --bench engine -- fan-out` runs only the sections whose name
    // holds the filter (`fan-out`, `overhead`); cargo's own `--bench` is skipped.
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_default();
    let rounds = env_number("RUNBOOK_BENCH_ROUNDS", 3).max(1);
    let items = env_number("RUNBOOK_BENCH_ITEMS", ITEMS).max(1);
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_runbook"));
    // The repository's disk, never a tmpfs: the journal's fsync must be real.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a temp dir");
    println!("binary: {}", binary.display());
    println!(
        "journal: {} on {}",
        dir.path().display(),
        filesystem(dir.path())
    );

    let mut table = String::new();
    if "fan-out".contains(filter.as_str()) {
        fan_out(&binary, dir.path(), rounds, items).table(&mut table, rounds);
    }
    if "overhead".contains(filter.as_str()) {
        overhead(&binary, dir.path(), rounds).table(&mut table, rounds);
    }
    println!("{table}");
}

// ---------------------------------------------------------------------------
// 1. Fan-out

/// What the server saw: requests in the handler now, the most ever, how long
/// each was held, which connections they came on, and when the first arrived
/// and the last left.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    max: AtomicUsize,
    requests: AtomicUsize,
    held_nanos: AtomicU64,
    peers: Mutex<HashSet<SocketAddr>>,
    first: Mutex<Option<SystemTime>>,
    last: Mutex<Option<SystemTime>>,
}

impl Gauge {
    fn reset(&self) {
        self.now.store(0, Ordering::SeqCst);
        self.max.store(0, Ordering::SeqCst);
        self.requests.store(0, Ordering::SeqCst);
        self.held_nanos.store(0, Ordering::SeqCst);
        lock(&self.peers).clear();
        *lock(&self.first) = None;
        *lock(&self.last) = None;
    }

    async fn hold(&self, peer: SocketAddr) {
        let arrived = SystemTime::now();
        lock(&self.first).get_or_insert(arrived);
        lock(&self.peers).insert(peer);
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        let started = Instant::now();
        tokio::time::sleep(HOLD).await;
        let held = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.held_nanos.fetch_add(held, Ordering::SeqCst);
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.now.fetch_sub(1, Ordering::SeqCst);
        let left = SystemTime::now();
        let mut last = lock(&self.last);
        *last = Some(last.map_or(left, |l| l.max(left)));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The loopback server, on a runtime of its own that lives as long as this does.
struct Server {
    address: SocketAddr,
    gauge: Arc<Gauge>,
    _runtime: tokio::runtime::Runtime,
}

impl Server {
    fn start(items: usize) -> Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime for the server");
        let gauge = Arc::new(Gauge::default());
        let items: Vec<Json> = (0..items).map(|n| json!({ "id": n })).collect();
        let router = Router::new()
            .route(
                "/items",
                get(move || {
                    let items = items.clone();
                    async move { axum::Json(items) }
                }),
            )
            .route(
                "/items/{n}",
                get(
                    |State(gauge): State<Arc<Gauge>>,
                     ConnectInfo(peer): ConnectInfo<SocketAddr>,
                     UrlPath(n): UrlPath<usize>| async move {
                        gauge.hold(peer).await;
                        n.to_string()
                    },
                ),
            )
            .with_state(Arc::clone(&gauge));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind a loopback port");
        let address = listener.local_addr().expect("a bound listener's address");
        runtime.spawn(async move {
            let service = router.into_make_service_with_connect_info::<SocketAddr>();
            let _ = axum::serve(listener, service).await;
        });
        Server {
            address,
            gauge,
            _runtime: runtime,
        }
    }
}

/// One `runbook run` of the fan-out runbook, as the process, the journal and the
/// server saw it.
struct FanOutRun {
    wall: Duration,
    /// Process start → the `for_each` step's `step_started` event.
    before_step: Duration,
    /// `step_started` → the first item request reaches the server.
    to_first_request: Duration,
    /// The first item request arrives → the last response is sent.
    serving: Duration,
    /// The last response → the step's `step_finished` event.
    after_last_response: Duration,
    /// `step_finished` → the process has exited.
    to_exit: Duration,
    step: Duration,
    max_in_flight: usize,
    connections: usize,
    mean_hold: Duration,
}

fn fan_out_runbook(address: SocketAddr, items: usize) -> String {
    format!(
        r#"runbook: fan-out
title: Check {items} items
inputs:
  base: {{ default: "http://{address}" }}
steps:
  - id: items
    title: Fetch the item list
    http: {{ url: "{{{{ inputs.base }}}}/items" }}
    expect: {{ status: 200, json: {{ "0.id": 0 }} }}
  - id: check_each
    title: Check every item
    needs: [items]
    for_each: "{{{{ steps.items.json }}}}"
    concurrency: {CONCURRENCY}
    http: {{ url: "{{{{ inputs.base }}}}/items/{{{{ item.id }}}}" }}
    expect: {{ status: 200 }}
"#
    )
}

struct FanOut {
    items: usize,
    runs: Vec<FanOutRun>,
}

fn fan_out(binary: &Path, dir: &Path, rounds: usize, items: usize) -> FanOut {
    let server = Server::start(items);
    let file = dir.join("fan-out.yaml");
    std::fs::write(&file, fan_out_runbook(server.address, items))
        .expect("write the fan-out runbook");
    let mut runs = Vec::with_capacity(rounds);
    for round in 0..rounds {
        server.gauge.reset();
        let state = dir.join(format!("fan-out-state-{round}"));
        let spawned = SystemTime::now();
        let ran = run(binary, &file, &[], &state);
        let exited = SystemTime::now();
        let gauge = &server.gauge;
        let requests = gauge.requests.load(Ordering::SeqCst);
        assert_eq!(requests, items, "every item was requested once");
        let events = journal(&state);
        let at = |event: &str| {
            events
                .iter()
                .find(|e| e["event"] == event && e["step"] == "check_each")
                .and_then(|e| e["at"].as_str())
                .and_then(parse_at)
                .unwrap_or_else(|| panic!("the journal has `{event}` for `check_each`"))
        };
        let (started, finished) = (at("step_started"), at("step_finished"));
        let first = lock(&gauge.first).expect("a first request");
        let last = lock(&gauge.last).expect("a last response");
        let hold_nanos = gauge.held_nanos.load(Ordering::SeqCst) / requests as u64;
        runs.push(FanOutRun {
            wall: ran.wall,
            before_step: between(spawned, started),
            to_first_request: between(started, first),
            serving: between(first, last),
            after_last_response: between(last, finished),
            to_exit: between(finished, exited),
            step: between(started, finished),
            max_in_flight: gauge.max.load(Ordering::SeqCst),
            connections: lock(&gauge.peers).len(),
            mean_hold: Duration::from_nanos(hold_nanos),
        });
    }
    FanOut { items, runs }
}

impl FanOut {
    fn table(&self, table: &mut String, rounds: usize) {
        let items = self.items;
        let ideal = HOLD * count(items) / count(CONCURRENCY);
        let walls: Vec<Duration> = self.runs.iter().map(|r| r.wall).collect();
        let (fastest, middle) = (min(&walls), median(&walls));
        let ratio = ratio(middle, ideal);
        let max_in_flight = self.runs.iter().map(|r| r.max_in_flight).max().unwrap_or(0);
        let part =
            |f: fn(&FanOutRun) -> Duration| median(&self.runs.iter().map(f).collect::<Vec<_>>());
        let hold = part(|r| r.mean_hold);
        let achievable = hold * count(items) / count(CONCURRENCY);
        let connections: Vec<String> = self
            .runs
            .iter()
            .map(|r| r.connections.to_string())
            .collect();

        let _ = writeln!(
            table,
            "\n1. fan-out: {items} `for_each` HTTP checks, {} ms each, concurrency {CONCURRENCY} \
             ({rounds} runs, median unless said)\n",
            HOLD.as_millis()
        );
        row(
            table,
            &format!(
                "(a) ideal: {items} × {} ms / {CONCURRENCY}",
                HOLD.as_millis()
            ),
            &secs(ideal),
            "",
        );
        row(
            table,
            "(b) runbook run, wall (process start → exit)",
            &format!("min {} · median {}", secs(fastest), secs(middle)),
            "",
        );
        row(
            table,
            "      start, parse, GET /items → fan-out step starts",
            &ms(part(|r| r.before_step)),
            "",
        );
        row(
            table,
            "      step starts → first item request arrives",
            &ms(part(|r| r.to_first_request)),
            "",
        );
        row(
            table,
            "      first request → last response (server clock)",
            &ms(part(|r| r.serving)),
            "",
        );
        row(
            table,
            "      last response → step finished (journal)",
            &ms(part(|r| r.after_last_response)),
            "",
        );
        row(
            table,
            "      step finished → process exited",
            &ms(part(|r| r.to_exit)),
            "",
        );
        row(
            table,
            "      the for_each step alone (journal)",
            &ms(part(|r| r.step)),
            "",
        );
        row(
            table,
            &format!("(c) achievable: {items} × mean server hold / {CONCURRENCY}"),
            &format!(
                "{} ({:.2} ms hold)",
                secs(achievable),
                hold.as_secs_f64() * 1e3
            ),
            "",
        );
        let _ = writeln!(table);
        row(
            table,
            "ratio (b)/(a): run / ideal",
            &format!("{ratio:.2}×"),
            &verdict(
                ratio <= MAX_FAN_OUT_RATIO,
                &format!("target ≤ {MAX_FAN_OUT_RATIO}×"),
            ),
        );
        row(
            table,
            "most item requests in flight (server, all runs)",
            &max_in_flight.to_string(),
            &verdict(
                max_in_flight <= CONCURRENCY,
                &format!("target ≤ {CONCURRENCY}"),
            ),
        );
        row(
            table,
            "connections the server saw, per run",
            &connections.join(" · "),
            "",
        );
    }
}

// ---------------------------------------------------------------------------
// 2. Engine overhead

/// One measurement, repeated: wall and the child's CPU time, per round.
#[derive(Default)]
struct Sample {
    walls: Vec<Duration>,
    user: Vec<Duration>,
    system: Vec<Duration>,
}

impl Sample {
    fn push(&mut self, ran: &Ran) {
        self.walls.push(ran.wall);
        self.user.push(ran.user);
        self.system.push(ran.system);
    }

    fn median(&self) -> Duration {
        median(&self.walls)
    }

    fn cpu(&self) -> String {
        format!(
            "cpu: user {} · sys {}",
            ms(median(&self.user)),
            ms(median(&self.system))
        )
    }
}

/// The runbooks run with the journal in one place (the disk, or tmpfs).
#[derive(Default)]
struct Place {
    /// `STEPS` prompts.
    many: Sample,
    /// `FEW_STEPS` prompts: the fixed costs.
    few: Sample,
    /// `STEPS` `read_setting`s.
    settings: Sample,
}

impl Place {
    /// Per step, with the fixed costs (process start, parse, lock, first and
    /// last events) taken out: (many − few) / (`STEPS` − `FEW_STEPS`).
    fn marginal(&self) -> Duration {
        self.many.median().saturating_sub(self.few.median()) / count(STEPS - FEW_STEPS)
    }
}

struct Overhead {
    floor: Vec<Duration>,
    disk: Place,
    /// The same runbooks with the journal on tmpfs, where `sync_data` returns
    /// at once: the engine alone.
    tmpfs: Option<Place>,
    /// `2 × STEPS` prompts on tmpfs: a per-step cost that grows with the
    /// runbook shows here.
    twice: Sample,
    events_per_step: f64,
}

/// The generated runbooks and their answers files.
struct Runbooks {
    many: (PathBuf, PathBuf),
    few: (PathBuf, PathBuf),
    twice: (PathBuf, PathBuf),
    settings: PathBuf,
}

impl Runbooks {
    fn write(dir: &Path) -> Runbooks {
        let prompts = |name: &str, steps: usize| {
            let file = dir.join(format!("{name}.yaml"));
            let answers = dir.join(format!("{name}-answers.yaml"));
            write_prompts(&file, &answers, steps);
            (file, answers)
        };
        let settings = dir.join("settings.yaml");
        write_settings(&settings, dir, STEPS);
        Runbooks {
            many: prompts("prompts", STEPS),
            few: prompts("few", FEW_STEPS),
            twice: prompts("twice", 2 * STEPS),
            settings,
        }
    }

    /// Runs the three runbooks of a [`Place`] with their state under `root`.
    fn run_in(&self, binary: &Path, root: &Path, round: usize, place: &mut Place) -> usize {
        let state = root.join(format!("prompts-state-{round}"));
        place.many.push(&run_answered(binary, &self.many, &state));
        let lines = journal(&state).len();
        let state = root.join(format!("few-state-{round}"));
        place.few.push(&run_answered(binary, &self.few, &state));
        let state = root.join(format!("settings-state-{round}"));
        place
            .settings
            .push(&run(binary, &self.settings, &[], &state));
        lines
    }
}

fn overhead(binary: &Path, dir: &Path, rounds: usize) -> Overhead {
    let runbooks = Runbooks::write(dir);
    let shm = Path::new("/dev/shm");
    let tmpfs = (shm.is_dir() && filesystem(shm).contains("tmpfs"))
        .then(|| tempfile::tempdir_in(shm).ok())
        .flatten();
    if let Some(t) = &tmpfs {
        println!(
            "journal for (h)–(k): {} on {}",
            t.path().display(),
            filesystem(t.path())
        );
    }

    let mut measured = Overhead {
        floor: Vec::with_capacity(rounds),
        disk: Place::default(),
        tmpfs: tmpfs.as_ref().map(|_| Place::default()),
        twice: Sample::default(),
        events_per_step: 0.0,
    };
    // Interleaved, so a disk that slows down for a while slows every measurement.
    for round in 0..rounds {
        measured.floor.push(fsync_floor(dir, round));
        let lines = runbooks.run_in(binary, dir, round, &mut measured.disk);
        // Every line but `run_started` and `run_finished` belongs to a step.
        measured.events_per_step =
            f64::from(count(lines.saturating_sub(2))) / f64::from(count(STEPS));
        if let (Some(place), Some(root)) = (&mut measured.tmpfs, &tmpfs) {
            runbooks.run_in(binary, root.path(), round, place);
            let state = root.path().join(format!("twice-state-{round}"));
            measured
                .twice
                .push(&run_answered(binary, &runbooks.twice, &state));
        }
    }
    measured
}

/// Appends `FLOOR_EVENTS` lines of `LINE_BYTES`, each followed by `sync_data`:
/// what the journal does per event, without the engine.
fn fsync_floor(dir: &Path, round: usize) -> Duration {
    let path = dir.join(format!("floor-{round}.jsonl"));
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create_new(true)
        .open(&path)
        .expect("create the fsync floor file");
    let mut line = r#"{"at":"2026-11-28T05:30:12.345Z","event":"step_finished","step":"ask_0000","outcome":"passed","results":{"value":"value-0"},"duration_ms":0,"pad":""#.to_owned();
    while line.len() < LINE_BYTES - 3 {
        line.push('x');
    }
    line.push_str("\"}\n");
    let started = Instant::now();
    for _ in 0..FLOOR_EVENTS {
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_data())
            .expect("append and sync a line");
    }
    let elapsed = started.elapsed();
    drop(file);
    let _ = std::fs::remove_file(&path);
    elapsed
}

impl Overhead {
    fn table(&self, table: &mut String, rounds: usize) {
        let per_event = median(&self.floor) / count(FLOOR_EVENTS);
        let floor_per_step = per_event * 2;
        let total = self.disk.many.median();
        let per_step = total / count(STEPS);
        let marginal = self.disk.marginal();
        let beyond = STEPS - FEW_STEPS;

        let _ = writeln!(
            table,
            "\n2. engine overhead: {STEPS} `prompt` steps (effect none) answered by --answers \
             ({rounds} runs, median)\n"
        );
        row(
            table,
            &format!("(d) fsync floor: {FLOOR_EVENTS} × ({LINE_BYTES} B append + sync_data)"),
            &format!("{} ({})", secs(median(&self.floor)), us(per_event, "event")),
            "",
        );
        row(
            table,
            "      per step: 2 events (step_started + step_finished)",
            &us(floor_per_step, "step"),
            &format!("journal: {:.2} events/step", self.events_per_step),
        );
        row(
            table,
            &format!("(e) runbook run, {STEPS} prompt steps"),
            &per_steps(total, STEPS),
            &self.disk.many.cpu(),
        );
        row(
            table,
            &format!("(f) runbook run, {FEW_STEPS} prompt steps: fixed costs"),
            &ms(self.disk.few.median()),
            "",
        );
        row(
            table,
            &format!("      per step without them: ((e) − (f)) / {beyond}"),
            &us(marginal, "step"),
            "",
        );
        row(
            table,
            &format!("(g) runbook run, {STEPS} read_setting steps"),
            &per_steps(self.disk.settings.median(), STEPS),
            &self.disk.settings.cpu(),
        );
        if let Some(tmpfs) = &self.tmpfs {
            row(
                table,
                "(h) as (e), journal on tmpfs: no disk",
                &per_steps(tmpfs.many.median(), STEPS),
                &tmpfs.many.cpu(),
            );
            row(
                table,
                "(i) as (f), journal on tmpfs",
                &ms(tmpfs.few.median()),
                "",
            );
            row(
                table,
                &format!("      engine per step: ((h) − (i)) / {beyond}"),
                &us(tmpfs.marginal(), "step"),
                "",
            );
            row(
                table,
                "(j) as (g), journal on tmpfs",
                &per_steps(tmpfs.settings.median(), STEPS),
                &tmpfs.settings.cpu(),
            );
            let twice = self.twice.median().saturating_sub(tmpfs.few.median())
                / count(2 * STEPS - FEW_STEPS);
            let growth = ratio(twice, tmpfs.marginal());
            row(
                table,
                &format!(
                    "(k) {} prompt steps, tmpfs: ((k) − (i)) / {}",
                    2 * STEPS,
                    2 * STEPS - FEW_STEPS
                ),
                &us(twice, "step"),
                &verdict(
                    growth <= MAX_STEP_GROWTH,
                    &format!(
                        "{growth:.2}× the engine per step at {STEPS} (linear: ≤ {MAX_STEP_GROWTH}×)"
                    ),
                ),
            );
        }
        let _ = writeln!(table);
        row(
            table,
            "ratio (e) per step / 2 fsyncs",
            &format!("{:.2}×", ratio(per_step, floor_per_step)),
            "the floor is 1.00×",
        );
        row(
            table,
            "ratio ((e) − (f)) per step / 2 fsyncs",
            &format!("{:.2}×", ratio(marginal, floor_per_step)),
            "fixed costs left out",
        );
        if let Some(tmpfs) = &self.tmpfs {
            row(
                table,
                "engine's own share of a step: ((h) − (i)) / ((e) − (f))",
                &format!("{:.0}%", 100.0 * ratio(tmpfs.marginal(), marginal)),
                "the rest is the disk",
            );
        }
    }
}

fn per_steps(total: Duration, steps: usize) -> String {
    format!("{} ({})", secs(total), us(total / count(steps), "step"))
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX).max(1)
}

fn write_prompts(file: &Path, answers: &Path, steps: usize) {
    let mut runbook = format!("runbook: {}\ntitle: {steps} prompts\nsteps:\n", stem(file));
    let mut given = String::new();
    for n in 0..steps {
        let _ = writeln!(
            runbook,
            "  - id: ask_{n:04}\n    prompt: {{ message: \"Value number {n}\" }}"
        );
        let _ = writeln!(given, "ask_{n:04}: value-{n}");
    }
    std::fs::write(file, runbook).expect("write the prompts runbook");
    std::fs::write(answers, given).expect("write the answers file");
}

fn write_settings(file: &Path, dir: &Path, steps: usize) {
    let env = dir.join("small.env");
    let mut dotenv = String::new();
    for n in 0..10 {
        let _ = writeln!(dotenv, "KEY_{n}=value-{n}");
    }
    std::fs::write(&env, dotenv).expect("write the dotenv file");
    let mut runbook = format!("runbook: {}\ntitle: {steps} settings\nsteps:\n", stem(file));
    for n in 0..steps {
        let _ = writeln!(
            runbook,
            "  - id: read_{n:04}\n    read_setting: {{ file: \"{}\", key: KEY_{} }}",
            env.display(),
            n % 10
        );
    }
    std::fs::write(file, runbook).expect("write the settings runbook");
}

fn stem(file: &Path) -> String {
    file.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Running the binary

struct Ran {
    wall: Duration,
    user: Duration,
    system: Duration,
}

/// `runbook run FILE --non-interactive ARGS` with its state in `state`; it must pass.
fn run(binary: &Path, file: &Path, args: &[String], state: &Path) -> Ran {
    let before = children_cpu();
    let started = Instant::now();
    let output = Command::new(binary)
        .arg("run")
        .arg(file)
        .arg("--non-interactive")
        .args(args)
        .env("RUNBOOK_STATE_DIR", state)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("start runbook run");
    let wall = started.elapsed();
    let after = children_cpu();
    assert!(
        output.status.success(),
        "runbook run {} exited with {:?}\n{}\n{}",
        file.display(),
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ran {
        wall,
        user: after.0.saturating_sub(before.0),
        system: after.1.saturating_sub(before.1),
    }
}

/// `run` with `--answers`, for a (runbook, answers file) pair.
fn run_answered(binary: &Path, (file, answers): &(PathBuf, PathBuf), state: &Path) -> Ran {
    let flag = ["--answers".to_owned(), answers.display().to_string()];
    run(binary, file, &flag, state)
}

/// User and system CPU time of this process's waited-for children, from
/// `/proc/self/stat` (`cutime`, `cstime`: clock ticks of 10 ms). Zero elsewhere.
fn children_cpu() -> (Duration, Duration) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return (Duration::ZERO, Duration::ZERO);
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map_or(Vec::new(), |(_, rest)| rest.split(' ').collect());
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|f| f.parse::<u64>().ok())
            .map_or(Duration::ZERO, |t| Duration::from_millis(t * 10))
    };
    // rest[0] is field 3 (state); cutime is field 16, cstime field 17.
    (ticks(13), ticks(14))
}

/// The events of the only run journal under `state`.
fn journal(state: &Path) -> Vec<Json> {
    let runs = std::fs::read_dir(state)
        .expect("the state dir exists")
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("runs"))
        .find(|runs| runs.is_dir())
        .expect("a runbook's runs directory");
    let file = std::fs::read_dir(&runs)
        .expect("read the runs directory")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .expect("a run journal");
    std::fs::read_to_string(&file)
        .expect("read the journal")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a journal line is JSON"))
        .collect()
}

/// The journal's `at` (`2026-11-28T05:30:12.345Z`, UTC) as a `SystemTime`.
fn parse_at(at: &str) -> Option<SystemTime> {
    let number = |range: std::ops::Range<usize>| at.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second, milli) = (
        number(11..13)?,
        number(14..16)?,
        number(17..19)?,
        number(20..23)?,
    );
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let millis = ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1_000 + milli;
    Some(UNIX_EPOCH + Duration::from_millis(u64::try_from(millis).ok()?))
}

/// `b − a`, zero if the clocks (ms journal stamps) put `b` first.
fn between(a: SystemTime, b: SystemTime) -> Duration {
    b.duration_since(a).unwrap_or(Duration::ZERO)
}

/// Filesystem type and device of `path`, as `df` reports them.
fn filesystem(path: &Path) -> String {
    Command::new("df")
        .args(["--output=source,fstype,target"])
        .arg(path)
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let line = text.lines().nth(1)?.split_whitespace().collect::<Vec<_>>();
            Some(format!(
                "{} ({}, mounted on {})",
                line.get(1)?,
                line.first()?,
                line.get(2)?
            ))
        })
        .unwrap_or_else(|| "an unknown filesystem".to_owned())
}

// ---------------------------------------------------------------------------
// Formatting

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn row(table: &mut String, what: &str, figure: &str, note: &str) {
    let _ = writeln!(table, "  {what:<52} {figure:>24}  {note}");
}

fn median(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

fn min(values: &[Duration]) -> Duration {
    values.iter().min().copied().unwrap_or_default()
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn us(d: Duration, per: &str) -> String {
    format!("{:.0} µs/{per}", d.as_secs_f64() * 1e6)
}

fn verdict(pass: bool, target: &str) -> String {
    format!("{}  {target}", if pass { "PASS" } else { "FAIL" })
}
