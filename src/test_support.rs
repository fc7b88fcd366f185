//! What several modules' unit tests share.

/// Every text of up to `count` of `pieces` in a row, so each piece meets each
/// other one on either side: the inputs on which a hand-written scanner is
/// checked against the pattern it replaces.
pub fn sequences(pieces: &[&str], count: usize) -> Vec<String> {
    let mut texts = vec![String::new()];
    let mut longest = vec![String::new()];
    for _ in 0..count {
        longest = longest
            .iter()
            .flat_map(|text| pieces.iter().map(move |piece| format!("{text}{piece}")))
            .collect();
        texts.extend(longest.iter().cloned());
    }
    texts
}
