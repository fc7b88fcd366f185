//! SPEC §2's evidence rule as a computation on the `needs` graph: which changes
//! an irreversible step comes after that no probe before it checks, and whether it
//! comes after any probe at all.
//!
//! Each step's ancestors are computed once, in file order, as a bitset built from
//! its needs' bitsets; a step's bitset is dropped after the last step that needs it.
//! The first version rebuilt a transitive closure for every (change, probe) pair and
//! walked probes in hash order, which made the rule cubic on long chains and its
//! time differ from run to run. Everything here runs in file order, so the same
//! file costs the same every time.

use super::model::Effect;

/// What the rule finds about one irreversible step.
#[derive(Debug, PartialEq, Eq)]
pub enum Finding {
    /// No probe comes before it through `needs`.
    NoProbe,
    /// These changes (indices into the steps, ascending) come before it, but no
    /// probe before it comes after them.
    Unverified(Vec<usize>),
    /// Every probe before it (these, ascending) is a fan-out, which over zero
    /// items checks nothing (the run then skips it, and the step is blocked).
    OnlyFanOuts(Vec<usize>),
}

/// Runs the rule over `steps`, given each step's effect and its needs as indices
/// of earlier steps (a need that names no earlier step is an error reported
/// elsewhere and gives no evidence), and which steps fan out. Calls `found`
/// for each irreversible step that breaks the rule, or leans only on fan-outs,
/// in file order.
pub fn check(
    effects: &[Option<Effect>],
    needs: &[Vec<usize>],
    fan_outs: &[bool],
    mut found: impl FnMut(usize, Finding),
) {
    let count = effects.len();
    let is = |effect: Effect| -> Bits {
        let mut bits = Bits::empty(count);
        for (i, e) in effects.iter().enumerate() {
            if *e == Some(effect) || (effect == Effect::Change && *e == Some(Effect::Irreversible))
            {
                bits.insert(i);
            }
        }
        bits
    };
    let probes = is(Effect::Probe);
    let changes = is(Effect::Change);
    // The last step that reads each step's sets: they are dropped after it, so a
    // chain keeps two sets alive, not one per step.
    let mut last_use: Vec<Option<usize>> = vec![None; count];
    for (i, list) in needs.iter().enumerate() {
        for &j in list {
            last_use[j] = Some(i);
        }
    }
    // Per step: its ancestors, and the changes some probe among it and its
    // ancestors comes after ("verified up to here").
    let mut ancestors: Vec<Option<Bits>> = (0..count).map(|_| None).collect();
    let mut verified: Vec<Option<Bits>> = (0..count).map(|_| None).collect();
    let mut order: Vec<usize> = Vec::new();
    for i in 0..count {
        let mut before = Bits::empty(i);
        let mut checked = Bits::empty(i);
        order.clear();
        order.extend(needs[i].iter().copied().filter(|&j| j < i));
        // Latest first: a need that is already an ancestor of a later need adds
        // nothing, its sets being contained in that need's.
        order.sort_unstable_by(|a, b| b.cmp(a));
        order.dedup();
        for &j in &order {
            if before.contains(j) {
                continue;
            }
            before.insert(j);
            if let Some(bits) = &ancestors[j] {
                before.union_with(bits);
            }
            if let Some(bits) = &verified[j] {
                checked.union_with(bits);
            }
        }
        if effects[i] == Some(Effect::Irreversible) {
            if before.intersects(&probes) {
                let none = Bits::empty(0);
                let evidence: Vec<usize> = before.ones_in_not(&probes, &none).collect();
                if evidence
                    .iter()
                    .all(|&j| fan_outs.get(j).copied().unwrap_or(false))
                {
                    found(i, Finding::OnlyFanOuts(evidence));
                }
                let unverified: Vec<usize> = before.ones_in_not(&changes, &checked).collect();
                if !unverified.is_empty() {
                    found(i, Finding::Unverified(unverified));
                }
            } else {
                found(i, Finding::NoProbe);
            }
        }
        if effects[i] == Some(Effect::Probe) {
            checked.union_with(&before);
        }
        for &j in &order {
            if last_use[j] == Some(i) {
                ancestors[j] = None;
                verified[j] = None;
            }
        }
        if last_use[i].is_some() {
            ancestors[i] = Some(before.trimmed());
            verified[i] = Some(checked.trimmed());
        }
    }
}

/// A set of step indices: the words from `first` on, with no zero words at either
/// end once trimmed (a step needed by a far later one keeps only the span its
/// ancestors cover).
#[derive(Debug, Clone)]
struct Bits {
    first: usize,
    words: Vec<u64>,
}

impl Bits {
    fn empty(capacity: usize) -> Self {
        Self {
            first: 0,
            words: vec![0; capacity.div_ceil(64)],
        }
    }

    fn insert(&mut self, i: usize) {
        self.words[i / 64 - self.first] |= 1 << (i % 64);
    }

    fn contains(&self, i: usize) -> bool {
        self.word(i / 64) & (1 << (i % 64)) != 0
    }

    /// Adds `other`'s members; `self` must start at word 0 and reach as far.
    fn union_with(&mut self, other: &Self) {
        let target = &mut self.words[other.first..other.first + other.words.len()];
        for (word, add) in target.iter_mut().zip(&other.words) {
            *word |= add;
        }
    }

    fn intersects(&self, other: &Self) -> bool {
        self.words
            .iter()
            .enumerate()
            .any(|(o, word)| word & other.word(o + self.first) != 0)
    }

    fn word(&self, w: usize) -> u64 {
        w.checked_sub(self.first)
            .and_then(|o| self.words.get(o))
            .copied()
            .unwrap_or(0)
    }

    /// The members of `self` that are in `and` but not in `not`, ascending.
    fn ones_in_not<'s>(&'s self, and: &'s Self, not: &'s Self) -> impl Iterator<Item = usize> + 's {
        self.words.iter().enumerate().flat_map(move |(o, &word)| {
            let w = o + self.first;
            let mut left = word & and.word(w) & !not.word(w);
            std::iter::from_fn(move || {
                (left != 0).then(|| {
                    let bit = left.trailing_zeros() as usize;
                    left &= left - 1;
                    w * 64 + bit
                })
            })
        })
    }

    fn trimmed(self) -> Self {
        let Some(start) = self.words.iter().position(|&w| w != 0) else {
            return Self {
                first: 0,
                words: Vec::new(),
            };
        };
        let end = self
            .words
            .iter()
            .rposition(|&w| w != 0)
            .map_or(start, |e| e + 1);
        Self {
            first: self.first + start,
            words: self.words[start..end].to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Option<Effect> = Some(Effect::Probe);
    const C: Option<Effect> = Some(Effect::Change);
    const I: Option<Effect> = Some(Effect::Irreversible);
    const N: Option<Effect> = Some(Effect::None);

    fn run(effects: &[Option<Effect>], needs: &[&[usize]]) -> Vec<(usize, Finding)> {
        let needs: Vec<Vec<usize>> = needs.iter().map(|n| n.to_vec()).collect();
        let mut out = Vec::new();
        check(effects, &needs, &vec![false; effects.len()], |i, f| {
            out.push((i, f));
        });
        out
    }

    #[test]
    fn a_probe_after_the_change_is_evidence() {
        assert_eq!(run(&[C, P, I], &[&[], &[0], &[1]]), vec![]);
    }

    #[test]
    fn a_probe_before_the_change_is_not() {
        assert_eq!(
            run(&[P, C, I], &[&[], &[0], &[1]]),
            vec![(2, Finding::Unverified(vec![1]))]
        );
    }

    #[test]
    fn no_probe_at_all() {
        assert_eq!(
            run(&[C, N, I], &[&[], &[0], &[1]]),
            vec![(2, Finding::NoProbe)]
        );
    }

    #[test]
    fn a_probe_on_another_branch_checks_nothing_of_this_one() {
        // 0 change ─ 1 probe ─┐
        // 2 change ───────────┴─ 3 irreversible
        assert_eq!(
            run(&[C, P, C, I], &[&[], &[0], &[], &[1, 2]]),
            vec![(3, Finding::Unverified(vec![2]))]
        );
    }

    #[test]
    fn a_need_that_is_not_earlier_gives_no_evidence() {
        assert_eq!(run(&[I, P], &[&[1], &[]]), vec![(0, Finding::NoProbe)]);
        assert_eq!(run(&[I], &[&[0]]), vec![(0, Finding::NoProbe)]);
    }

    #[test]
    fn long_chains_keep_what_they_inherit() {
        // change, probe, then 300 `none` steps, then an irreversible step (a
        // change as far as a later one is concerned) and another change before a
        // second irreversible step: sets cross many words.
        let mut effects = vec![C, P];
        effects.extend(std::iter::repeat_n(N, 300));
        effects.extend([I, C, I]);
        let needs: Vec<Vec<usize>> = (0..effects.len())
            .map(|i| if i == 0 { vec![] } else { vec![i - 1] })
            .collect();
        let needs: Vec<&[usize]> = needs.iter().map(Vec::as_slice).collect();
        let last = effects.len() - 1;
        assert_eq!(
            run(&effects, &needs),
            vec![(last, Finding::Unverified(vec![last - 2, last - 1]))]
        );
    }

    #[test]
    fn a_set_dropped_after_its_last_use_is_not_read_again() {
        // 0 change; 1 probe needs 0; 2 needs 1 (last use of 1's sets); 3 needs 0
        // and 2: 0's sets are still there, 1's are reached through 2.
        assert_eq!(run(&[C, P, N, I], &[&[], &[0], &[1], &[0, 2]]), vec![]);
    }

    /// The rule as SPEC §2 states it, one closure per question: the oracle for
    /// the bitsets on generated graphs.
    fn naive(effects: &[Option<Effect>], needs: &[Vec<usize>]) -> Vec<(usize, Finding)> {
        let closure = |start: usize| {
            let mut seen = vec![false; effects.len()];
            let mut stack: Vec<usize> = needs[start]
                .iter()
                .copied()
                .filter(|&j| j < start)
                .collect();
            while let Some(i) = stack.pop() {
                if !seen[i] {
                    seen[i] = true;
                    stack.extend(needs[i].iter().copied().filter(|&j| j < i));
                }
            }
            seen
        };
        let mut out = Vec::new();
        for i in 0..effects.len() {
            if effects[i] != I {
                continue;
            }
            let before = closure(i);
            let probes: Vec<usize> = (0..i).filter(|&j| before[j] && effects[j] == P).collect();
            if probes.is_empty() {
                out.push((i, Finding::NoProbe));
                continue;
            }
            let unverified: Vec<usize> = (0..i)
                .filter(|&c| before[c] && (effects[c] == C || effects[c] == I))
                .filter(|&c| !probes.iter().any(|&p| closure(p)[c]))
                .collect();
            if !unverified.is_empty() {
                out.push((i, Finding::Unverified(unverified)));
            }
        }
        out
    }

    #[test]
    fn agrees_with_the_naive_rule_on_generated_graphs() {
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |bound: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % bound as u64).unwrap_or(0)
        };
        for round in 0..400 {
            let count = 1 + next(if round % 10 == 0 { 200 } else { 20 });
            let effects: Vec<Option<Effect>> =
                (0..count).map(|_| [P, C, I, N, None][next(5)]).collect();
            let needs: Vec<Vec<usize>> = (0..count)
                .map(|i| {
                    (0..next(4))
                        .map(|_| next(count + 1).min(count - 1).min(i + 1))
                        .collect()
                })
                .collect();
            let mut fast = Vec::new();
            check(&effects, &needs, &vec![false; effects.len()], |i, f| {
                fast.push((i, f));
            });
            assert_eq!(fast, naive(&effects, &needs), "{effects:?} {needs:?}");
        }
    }
}
