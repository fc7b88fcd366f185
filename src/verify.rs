//! `runbook verify RUN`: checks a run journal's hash chain and says where it
//! breaks — the event whose link to the line before does not hold — or that it
//! holds, with its head (to compare with the head a run report recorded, which
//! shows a journal cut short at its end). Exit 0 when the chain holds, 1 when it
//! does not (or the journal has none), 2 when no such run is found.

use crate::engine::journal::chain::Chain;
use crate::engine::journal::{self, JournalError};
use crate::output::{Output, printable};
use crate::report::run_report::{ReportError, find};

/// `runbook verify RUN_ID|FILE|JOURNAL`.
pub fn run(target: &str, out: &mut Output) -> Result<i32, ReportError> {
    let path = match find(Some(target), None) {
        Ok(found) => found.run.journal,
        // A line that is not even JSON is a break the chain never got to see.
        Err(ReportError::Journal(JournalError::Damaged { path, line, .. })) => {
            let shown = printable(&path.display().to_string()).into_owned();
            out.write(&format!(
                "✗ {shown}: the chain breaks at line {line}: it is not JSON (the journal was changed after it was written)\n"
            ))?;
            return Ok(1);
        }
        Err(error) => return Err(error),
    };
    let replay = journal::read(&path)?;
    let shown = printable(&path.display().to_string()).into_owned();
    let (text, code) = match &replay.chain {
        Chain::Intact { head } => (
            format!(
                "✓ {shown}: the chain of its {} events holds\n  head {head}\n",
                replay.events.len()
            ),
            0,
        ),
        Chain::Broken { line, why } => (
            format!(
                "✗ {shown}: the chain breaks at line {line}: {why}\n  the journal was changed after it was written; `runbook resume` will not continue it\n"
            ),
            1,
        ),
        Chain::Unchained => (
            format!(
                "✗ {shown}: it has no chain: it was written before runbook chained its events, so a change to it cannot be detected\n"
            ),
            1,
        ),
    };
    out.write(&text)?;
    Ok(code)
}
