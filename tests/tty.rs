//! A program under a real pseudo-terminal (rexpect), for the PTY tests of
//! `run`/`resume` and of `demo`. rexpect hands back each byte as a `char`, so it
//! can only wait for ASCII text; [`Tty`] turns what it read back into UTF-8
//! before the tests assert on `✓`, `⏸` & co.

use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use rexpect::process::WaitStatus;
use rexpect::session::{PtySession, spawn_command};

/// A program on a pseudo-terminal, and everything it printed so far.
pub struct Tty {
    session: PtySession,
    screen: Vec<u8>,
    timeout_ms: u64,
}

impl Tty {
    /// Spawns `command`; every wait (and the exit) is bounded by `timeout_ms`.
    pub fn spawn(command: Command, timeout_ms: u64) -> Self {
        let session = spawn_command(command, Some(timeout_ms)).expect("spawned under a PTY");
        Tty {
            session,
            screen: Vec::new(),
            timeout_ms,
        }
    }

    /// Waits for `ascii` and returns, as UTF-8, what was printed up to and
    /// including it since the previous wait.
    pub fn wait(&mut self, ascii: &str) -> String {
        let before = match self.session.exp_string(ascii) {
            Ok(before) => before,
            Err(e) => panic!(
                "waiting for {ascii:?}: {e}\n--- the screen so far ---\n{}",
                self.text()
            ),
        };
        self.take(&format!("{before}{ascii}"))
    }

    pub fn take(&mut self, read: &str) -> String {
        // rexpect made one char of each byte; undo that.
        let bytes: Vec<u8> = read
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
            .collect();
        self.screen.extend_from_slice(&bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.screen).into_owned()
    }

    pub fn send(&mut self, keys: &str) {
        self.session.send(keys).expect("typed");
        self.session.flush().expect("typed");
    }

    pub fn line(&mut self, text: &str) {
        self.session.send_line(text).expect("typed");
    }

    /// Ctrl-C is a key only while console holds the terminal in raw mode; sent
    /// earlier it is a kernel SIGINT. Either must interrupt, but give the
    /// prompt a moment so the test exercises the key.
    pub fn ctrl_c(&mut self) {
        sleep(Duration::from_millis(300));
        self.session.send_control('c').expect("sent Ctrl-C");
    }

    /// Reads to the end and returns the whole screen and the exit code.
    pub fn finish(mut self) -> (String, i32) {
        match self.session.exp_eof() {
            Ok(rest) => {
                self.take(&rest);
            }
            Err(e) => panic!(
                "the program did not end: {e}\n--- the screen so far ---\n{}",
                self.text()
            ),
        }
        let deadline = Instant::now() + Duration::from_millis(self.timeout_ms);
        let status = loop {
            match self.session.process().status() {
                Some(WaitStatus::StillAlive) if Instant::now() < deadline => {
                    sleep(Duration::from_millis(20));
                }
                status => break status,
            }
        };
        let text = self.text();
        match status {
            Some(WaitStatus::Exited(_, code)) => (text, code),
            other => panic!("the program did not exit normally: {other:?}\n{text}"),
        }
    }
}
