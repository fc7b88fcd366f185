//! Did-you-mean among many names: the step ids a file's `needs` and
//! `steps.<id>` references are checked against. Asking [`did_you_mean`] for
//! each of thousands of unknown ids compares each with every earlier id, which
//! made a file of many misspellings quadratic. [`Suggestions`] indexes the
//! names once by every form with one character deleted, which finds every name
//! one edit away (a typo) in a few lookups; only a name with nothing that close
//! falls back to the scan. The answer is always the one [`did_you_mean`] gives.

use std::collections::HashMap;

use super::did_you_mean;

/// Names in order, asked about by prefix (the steps before a given one).
pub struct Suggestions<'a> {
    names: Vec<&'a str>,
    /// Each name and each of its one-deletion forms → the positions of the
    /// names that have it; built at the first question.
    by_form: Option<HashMap<String, Vec<usize>>>,
}

impl<'a> Suggestions<'a> {
    pub fn new(names: Vec<&'a str>) -> Suggestions<'a> {
        Suggestions {
            names,
            by_form: None,
        }
    }

    /// [`did_you_mean`]`(name, the first `among` names)`.
    pub fn closest(&mut self, name: &str, among: usize) -> Option<&'a str> {
        let among = &self.names[..among.min(self.names.len())];
        let names = &self.names;
        let by_form = self.by_form.get_or_insert_with(|| {
            let mut by_form: HashMap<String, Vec<usize>> = HashMap::new();
            for (position, name) in names.iter().enumerate() {
                for form in forms(name) {
                    let positions = by_form.entry(form).or_default();
                    // A name like `aab` has one form twice.
                    if positions.last() != Some(&position) {
                        positions.push(position);
                    }
                }
            }
            by_form
        });
        // Every name one edit away (insertion, deletion, substitution,
        // transposition) shares a form with `name`; the earliest of them is
        // what the scan would pick, since nothing is closer than one edit.
        let one_edit = forms(name)
            .filter_map(|form| by_form.get(&form))
            .flatten()
            .copied()
            .filter(|&position| position < among.len())
            .filter(|&position| strsim::damerau_levenshtein(name, among[position]) == 1)
            .min();
        match one_edit {
            Some(position) => Some(among[position]),
            None => did_you_mean(name, among.iter().copied()),
        }
    }
}

/// `name` and every form of it with one character deleted.
fn forms(name: &str) -> impl Iterator<Item = String> + '_ {
    std::iter::once(name.to_owned()).chain(name.char_indices().map(move |(at, c)| {
        let mut form = String::with_capacity(name.len());
        form.push_str(&name[..at]);
        form.push_str(&name[at + c.len_utf8()..]);
        form
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_what_the_scan_gives() {
        let names = vec![
            "deploy", "deplyo", "build", "test_api", "tset_api", "rollout", "verify", "a", "ab",
            "abc", "aab", "schön", "schon",
        ];
        let asked = [
            "deploi",
            "deply",
            "buidl",
            "test_ap",
            "test_apii",
            "rolout",
            "verifyy",
            "b",
            "ba",
            "abd",
            "aba",
            "schn",
            "schöm",
            "nothing_like_it",
            "",
            "x",
        ];
        let mut suggestions = Suggestions::new(names.clone());
        for among in 0..=names.len() + 1 {
            for name in asked {
                let scanned = did_you_mean(name, names[..among.min(names.len())].iter().copied());
                assert_eq!(
                    suggestions.closest(name, among),
                    scanned,
                    "{name} among the first {among}"
                );
            }
        }
    }
}
