//! Standard output as the commands use it: colour only on a terminal and never
//! with `NO_COLOR`, and a closed pipe (`runbook validate | head`) ends the output
//! quietly instead of failing.

use std::io::{IsTerminal, Write};

use crate::error::Error;

pub struct Output {
    sink: Box<dyn Write>,
    color: bool,
    closed: bool,
}

impl Output {
    /// Standard output, coloured when it is a terminal and `NO_COLOR` is unset.
    pub fn stdout() -> Self {
        let stdout = std::io::stdout();
        let color =
            stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Output {
            sink: Box::new(stdout),
            color,
            closed: false,
        }
    }

    pub fn color(&self) -> bool {
        self.color
    }

    pub fn write(&mut self, text: &str) -> Result<(), Error> {
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

    /// Writes `text` and a newline.
    pub fn line(&mut self, text: &str) -> Result<(), Error> {
        self.write(text)?;
        self.write("\n")
    }
}
