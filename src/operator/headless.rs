//! Nobody at the keyboard: no TTY, or `--non-interactive` (CI, cron, a pipe).
//! Output is plain lines — never colour, never an escape code, never a redrawn
//! bar — so logs read well and grep well.
//!
//! Nothing here ever waits for input. The engine resolves every answer (command
//! line, answers file, environment, `--yes`/`--confirm`) before a step runs and
//! reports a missing one as an error naming it; it never calls [`Operator::ask`],
//! [`Operator::manual`] or [`Operator::confirm`] on this operator. Should it do so
//! by mistake, they return [`Interrupted`] at once rather than hang a CI job.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{Interrupted, ManualAnswer, Operator, Progress, Question};
use crate::output::printable;

/// How often, at most, a long piece of work reports its progress.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);

type Sink = Arc<Mutex<Box<dyn Write + Send>>>;

/// Writes one plain line. Escape codes are stripped here, whatever their source
/// (a command's coloured output quoted in a message), and any other control
/// character escaped, so none ever reaches a log.
fn write_line(sink: &Sink, text: &str) {
    let stripped = console::strip_ansi_codes(text);
    let plain = printable(&stripped);
    let mut out = sink.lock().unwrap_or_else(PoisonError::into_inner);
    // A closed stdout (`| head`) is no reason to stop a run.
    let _ = writeln!(out, "{plain}");
    let _ = out.flush();
}

/// The operator when nobody is there.
pub struct Headless {
    out: Sink,
    interval: Duration,
}

impl Default for Headless {
    fn default() -> Self {
        Self::new()
    }
}

impl Headless {
    /// Writes to stdout.
    pub fn new() -> Self {
        Self::with_output(io::stdout())
    }

    /// Writes to `out` instead of stdout.
    pub fn with_output(out: impl Write + Send + 'static) -> Self {
        Self {
            out: Arc::new(Mutex::new(Box::new(out))),
            interval: PROGRESS_INTERVAL,
        }
    }

    /// Reports progress at most once per `interval` (five seconds unless changed).
    #[must_use]
    pub fn with_progress_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }
}

impl Operator for Headless {
    fn interactive(&self) -> bool {
        false
    }

    fn say(&mut self, line: &str) {
        write_line(&self.out, line);
    }

    fn ask(&mut self, _question: &Question) -> Result<String, Interrupted> {
        Err(Interrupted)
    }

    fn manual(&mut self, _title: &str, _instructions: &str) -> Result<ManualAnswer, Interrupted> {
        Err(Interrupted)
    }

    fn confirm(&mut self, _message: &str, _phrase: Option<&str>) -> Result<bool, Interrupted> {
        Err(Interrupted)
    }

    fn progress(&mut self, label: &str, total: Option<u64>) -> Box<dyn Progress> {
        write_line(&self.out, label);
        Box::new(HeadlessProgress {
            out: Arc::clone(&self.out),
            label: label.to_owned(),
            total,
            done: 0,
            interval: self.interval,
            // The label just printed counts: the first message waits its turn too.
            last_line: Instant::now(),
        })
    }
}

/// Long work reported as occasional plain lines.
struct HeadlessProgress {
    out: Sink,
    label: String,
    total: Option<u64>,
    done: u64,
    interval: Duration,
    last_line: Instant,
}

impl Progress for HeadlessProgress {
    fn message(&mut self, text: &str) {
        let now = Instant::now();
        if now.duration_since(self.last_line) < self.interval {
            return;
        }
        self.last_line = now;
        let line = match self.total {
            Some(total) => format!("{}: {text} ({}/{total})", self.label, self.done),
            None => format!("{}: {text}", self.label),
        };
        write_line(&self.out, &line);
    }

    fn advance(&mut self, n: u64) {
        self.done = self.done.saturating_add(n);
    }

    fn finish(&mut self, summary: &str) {
        write_line(&self.out, summary);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer the test can read back after handing it to the operator.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner))
                .into_owned()
        }
    }

    fn headless(interval: Duration) -> (Headless, Captured) {
        let out = Captured::default();
        (
            Headless::with_output(out.clone()).with_progress_interval(interval),
            out,
        )
    }

    fn question() -> Question {
        Question {
            name: "new_token".to_owned(),
            prompt: "Paste the new token".to_owned(),
            secret: true,
            pattern: None,
            choices: Vec::new(),
            default: None,
        }
    }

    #[test]
    fn says_plain_lines_without_escape_codes() {
        let (mut op, out) = headless(PROGRESS_INTERVAL);
        assert!(!op.interactive());
        op.say("✓ saved");
        op.say("\u{1b}[31m✗\u{1b}[0m restart failed");
        assert_eq!(out.text(), "✓ saved\n✗ restart failed\n");
    }

    #[test]
    fn never_waits_for_an_answer() {
        let (mut op, out) = headless(PROGRESS_INTERVAL);
        assert_eq!(op.ask(&question()), Err(Interrupted));
        assert_eq!(
            op.manual("Create the token", "In the dashboard…"),
            Err(Interrupted)
        );
        assert_eq!(op.confirm("Revoke?", None), Err(Interrupted));
        assert_eq!(op.confirm("Revoke?", Some("1234")), Err(Interrupted));
        assert_eq!(out.text(), "");
    }

    #[test]
    fn progress_prints_the_label_messages_and_the_summary() {
        let (mut op, out) = headless(Duration::ZERO);
        let mut work = op.progress("verifying 2 zones", Some(2));
        work.advance(1);
        work.message("example.com");
        work.advance(1);
        work.message("example.org");
        work.finish("✓ 2 zones verified");
        assert_eq!(
            out.text(),
            "verifying 2 zones\n\
             verifying 2 zones: example.com (1/2)\n\
             verifying 2 zones: example.org (2/2)\n\
             ✓ 2 zones verified\n"
        );
    }

    #[test]
    fn progress_messages_are_throttled() {
        let (mut op, out) = headless(Duration::from_secs(3600));
        let mut work = op.progress("waiting for /health", None);
        for attempt in 1..=50 {
            work.message(&format!("attempt {attempt}: 503"));
        }
        work.finish("✓ healthy after 50 attempts");
        assert_eq!(
            out.text(),
            "waiting for /health\n✓ healthy after 50 attempts\n"
        );
    }
}
