//! Standard output as the commands use it: colour decided once (`--color`,
//! `NO_COLOR`, `CLICOLOR_FORCE`), and a closed pipe (`runbook validate | head`) ends the output
//! quietly instead of failing; into a pipe or a file, output can be gathered
//! into 64 KiB pieces (`validate DIR`). Also the one escaping of control characters every
//! human output applies to text from a runbook, its inputs or a server: an ESC
//! sequence in a title must not move the cursor, hide text or recolour the
//! screen — a plan could be made to show `$ gzip …` for a step that runs `rm -rf`.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};

use crate::error::Error;

/// `--color`: when output is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set; always when `CLICOLOR_FORCE` is
    /// set to anything but `0`.
    Auto,
    /// Even into a pipe, and despite `NO_COLOR`.
    Always,
    /// Not even on a terminal.
    Never,
}

/// Decides, once for the whole process, whether stdout and stderr are
/// coloured. `auto` is console's own rule — a terminal that is not `TERM=dumb`,
/// no `NO_COLOR` (<https://no-color.org>), `CLICOLOR=0` never, `CLICOLOR_FORCE`
/// always — and everything that styles text (console, dialoguer, indicatif and
/// [`colors`]) then reads console's one setting.
pub fn decide_colors(choice: ColorChoice) {
    let forced = match choice {
        ColorChoice::Auto => return,
        ColorChoice::Always => true,
        ColorChoice::Never => false,
    };
    console::set_colors_enabled(forced);
    console::set_colors_enabled_stderr(forced);
}

/// Whether standard output is coloured, as [`decide_colors`] decided.
pub fn colors() -> bool {
    console::colors_enabled()
}

/// How much text [`Output::batch_unless_terminal`] holds back before writing it.
const PIECE: usize = 64 * 1024;

pub struct Output {
    sink: Box<dyn Write>,
    color: bool,
    closed: bool,
    terminal: bool,
    /// Text written but not yet sent, when batching.
    held: Option<String>,
}

impl Output {
    /// Standard output, coloured as [`decide_colors`] decided.
    pub fn stdout() -> Self {
        let stdout = std::io::stdout();
        Output {
            terminal: stdout.is_terminal(),
            sink: Box::new(stdout),
            color: colors(),
            closed: false,
            held: None,
        }
    }

    pub fn color(&self) -> bool {
        self.color
    }

    /// From here on, unless standard output is a terminal, text goes out in
    /// pieces of 64 KiB and at [`Output::flush`], which the caller must reach:
    /// `validate DIR` otherwise makes two writes per file. A terminal still sees
    /// each line as it is written.
    pub fn batch_unless_terminal(&mut self) {
        if !self.terminal {
            self.held = Some(String::with_capacity(PIECE));
        }
    }

    pub fn write(&mut self, text: &str) -> Result<(), Error> {
        let Some(held) = &mut self.held else {
            return self.send(text);
        };
        held.push_str(text);
        if held.len() < PIECE {
            return Ok(());
        }
        self.flush()
    }

    /// Sends what [`Output::batch_unless_terminal`] held back.
    pub fn flush(&mut self) -> Result<(), Error> {
        let Some(mut held) = self.held.take() else {
            return Ok(());
        };
        let sent = self.send(&held);
        held.clear();
        self.held = Some(held);
        sent
    }

    fn send(&mut self, text: &str) -> Result<(), Error> {
        if self.closed {
            return Ok(());
        }
        match self
            .sink
            .write_all(text.as_bytes())
            .and_then(|()| self.sink.flush())
        {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            Err(e) => Err(Error::Output(e)),
        }
    }

    /// Writes what `render` makes — given whether to colour — with no control
    /// character of its content reaching the terminal (see [`for_terminal`]).
    pub fn show(&mut self, render: impl Fn(bool) -> String) -> Result<(), Error> {
        let text = for_terminal(render, self.color);
        self.write(&text)
    }

    /// Writes `text` and a newline.
    pub fn line(&mut self, text: &str) -> Result<(), Error> {
        self.write(text)?;
        self.write("\n")
    }
}

/// Whether a character does something to a terminal instead of showing: C0
/// controls but newline and tab, DEL, C1 controls, and the bidirectional
/// overrides and isolates that reorder what is shown.
pub fn is_hidden(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with each [hidden](is_hidden) character written as a visible escape,
/// `\u{1b}`. What it returns holds no hidden character, so escaping twice
/// changes nothing.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_hidden(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// What `render(colour)` makes, safe for a terminal. A renderer's own colours
/// are escape sequences too, so they cannot be told from the content's once
/// written; the plain rendering holds only the content's. When it holds none,
/// the coloured one is shown as it is; otherwise the plain one, escaped — a
/// hostile runbook loses its colours, never its escapes.
pub fn for_terminal(render: impl Fn(bool) -> String, color: bool) -> String {
    let plain = render(false);
    if plain.chars().any(is_hidden) {
        printable(&plain).into_owned()
    } else if color {
        render(true)
    } else {
        plain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_a_terminal_would_obey() {
        assert_eq!(printable("plain\ttext\n"), "plain\ttext\n");
        assert!(matches!(printable("plain"), Cow::Borrowed(_)));
        assert_eq!(
            printable("rm -rf /srv\r\u{1b}[2K$ gzip\u{7}\u{7f}\u{9b}2J\u{202e}txt"),
            "rm -rf /srv\\u{d}\\u{1b}[2K$ gzip\\u{7}\\u{7f}\\u{9b}2J\\u{202e}txt"
        );
        let once = printable("a\u{1b}b").into_owned();
        assert_eq!(printable(&once), once);
    }

    #[test]
    fn keeps_colours_only_when_the_content_holds_no_escape() {
        let render = |title: &'static str| {
            move |color: bool| {
                if color {
                    format!("\u{1b}[1m{title}\u{1b}[0m")
                } else {
                    title.to_owned()
                }
            }
        };
        assert_eq!(for_terminal(render("Plan"), true), "\u{1b}[1mPlan\u{1b}[0m");
        assert_eq!(for_terminal(render("Plan"), false), "Plan");
        assert_eq!(
            for_terminal(render("Pl\u{1b}[8man"), true),
            "Pl\\u{1b}[8man"
        );
    }
}
