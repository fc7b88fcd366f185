//! The hash chain of a journal: every event after the first carries, as `prev`,
//! the SHA-256 of the line before it exactly as written. An edit (a failed probe
//! flipped to passed), a removed or inserted line, or two lines swapped break
//! the link of the line after, so [`Walk`] finds them; the hash of the last line
//! is the chain's *head*, which the run report carries so that a journal cut
//! short at its end — which no link can show — is found by comparing heads.
//!
//! This detects changes; it does not authenticate: someone who rewrites every
//! link after their edit makes a new chain, whose head no longer matches the one
//! a report recorded.

/// What a journal's chain says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chain {
    /// Every link holds. `head` is the hash of the last line.
    Intact { head: String },
    /// Written before journals were chained: no event carries a link, so a
    /// change cannot be detected.
    Unchained,
    /// The first link that does not hold: `line` (1-based) does not follow the
    /// line before it, for the reason given.
    Broken { line: usize, why: String },
}

/// The link to a line: SHA-256 of its bytes, without the newline, in hex.
pub fn link(line: &[u8]) -> String {
    crate::eval::load::sha256_hex(line)
}

/// Checks the links of a journal's lines as they are read, in order.
#[derive(Debug, Default)]
pub struct Walk {
    /// The last line seen: its number and its hash.
    previous: Option<(usize, String)>,
    /// Whether some event after the first carried a link, or lacked one.
    linked: bool,
    unlinked: bool,
    broken: Option<(usize, String)>,
}

impl Walk {
    /// One event's line (without its newline), its 1-based number, and the
    /// `prev` it carries.
    pub fn step(&mut self, number: usize, line: &[u8], prev: Option<&str>) {
        if self.broken.is_none()
            && let Some(why) = self.why_broken(prev)
        {
            self.broken = Some((number, why));
        }
        self.previous = Some((number, link(line)));
    }

    fn why_broken(&mut self, prev: Option<&str>) -> Option<String> {
        match (&self.previous, prev) {
            (None, None) => None,
            (None, Some(_)) => Some(
                "the first event links to an event before it: lines before it were removed"
                    .to_owned(),
            ),
            (Some(_), None) if self.linked => {
                Some("it carries no link (`prev`) to the event before it".to_owned())
            }
            (Some(_), None) => {
                self.unlinked = true;
                None
            }
            (Some(_), Some(_)) if self.unlinked => {
                Some("it carries a link, but the events before it do not".to_owned())
            }
            (Some((number, hash)), Some(prev)) => {
                self.linked = true;
                (prev != hash).then(|| {
                    format!(
                        "it does not follow line {number}: line {number} was changed, or lines were removed, added or moved"
                    )
                })
            }
        }
    }

    pub fn finish(self) -> Chain {
        if let Some((line, why)) = self.broken {
            Chain::Broken { line, why }
        } else if self.unlinked {
            Chain::Unchained
        } else {
            Chain::Intact {
                head: self.previous.map_or_else(|| link(b""), |(_, hash)| hash),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines chained as the journal writes them.
    fn chained(texts: &[&str]) -> Vec<(String, Option<String>)> {
        let mut out: Vec<(String, Option<String>)> = Vec::new();
        for text in texts {
            let prev = out.last().map(|(line, _)| link(line.as_bytes()));
            out.push(((*text).to_owned(), prev));
        }
        out
    }

    fn walk(lines: &[(String, Option<String>)]) -> Chain {
        let mut walk = Walk::default();
        for (number, (line, prev)) in lines.iter().enumerate() {
            walk.step(number + 1, line.as_bytes(), prev.as_deref());
        }
        walk.finish()
    }

    #[test]
    fn an_untouched_chain_is_intact_with_the_last_line_as_head() {
        let lines = chained(&["a", "b", "c"]);
        assert_eq!(walk(&lines), Chain::Intact { head: link(b"c") });
    }

    #[test]
    fn an_edit_breaks_the_link_of_the_line_after() {
        let mut lines = chained(&["a", "b", "c"]);
        lines[1].0 = "B".to_owned();
        assert!(matches!(walk(&lines), Chain::Broken { line: 3, .. }));
    }

    #[test]
    fn a_removed_or_moved_line_breaks_the_chain() {
        let mut removed = chained(&["a", "b", "c", "d"]);
        removed.remove(1);
        assert!(matches!(walk(&removed), Chain::Broken { line: 2, .. }));
        let mut swapped = chained(&["a", "b", "c", "d"]);
        swapped.swap(1, 2);
        assert!(matches!(walk(&swapped), Chain::Broken { line: 2, .. }));
        let mut first_gone = chained(&["a", "b"]);
        first_gone.remove(0);
        assert!(matches!(walk(&first_gone), Chain::Broken { line: 1, .. }));
    }

    #[test]
    fn links_dropped_or_mixed_are_told_apart() {
        let old = vec![("a".to_owned(), None), ("b".to_owned(), None)];
        assert_eq!(walk(&old), Chain::Unchained);
        let mut dropped = chained(&["a", "b", "c"]);
        dropped[2].1 = None;
        assert!(matches!(walk(&dropped), Chain::Broken { line: 3, .. }));
        let mut late = old.clone();
        late.push(("c".to_owned(), Some(link(b"b"))));
        assert!(matches!(walk(&late), Chain::Broken { line: 3, .. }));
    }
}
