//! `generate_secret`: a new secret drawn from the operating system's secure
//! random source (getrandom: `getrandom(2)` on Linux), each character chosen
//! uniformly from the alphabet. The value is a secret by construction; the
//! engine masks it everywhere it writes.

/// The random source could not be read: nothing was generated.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the operating system's secure random source: {0}; nothing was generated")]
pub struct GenerateError(getrandom::Error);

/// `length` characters, each drawn uniformly from `alphabet` (at least two
/// distinct characters, at most 256, which `validate` ensures).
pub fn generate(length: usize, alphabet: &[char]) -> Result<String, GenerateError> {
    let size = alphabet.len();
    debug_assert!(
        (2..=256).contains(&size),
        "validate refuses such an alphabet"
    );
    // Bytes at or above the largest multiple of `size` are thrown away, so no
    // character is likelier than another (a bare `byte % size` would favour the
    // first ones).
    let limit = 256 - 256 % size;
    let mut out = String::with_capacity(length);
    let mut drawn = 0;
    let mut bytes = [0u8; 64];
    while drawn < length {
        getrandom::fill(&mut bytes).map_err(GenerateError)?;
        for byte in bytes {
            let byte = usize::from(byte);
            if byte < limit && drawn < length {
                out.push(alphabet[byte % size]);
                drawn += 1;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_have_the_length_and_alphabet_asked_for_and_differ() {
        let hex: Vec<char> = "0123456789abcdef".chars().collect();
        let first = generate(40, &hex).expect("random");
        let second = generate(40, &hex).expect("random");
        assert_eq!(first.chars().count(), 40);
        assert!(first.chars().all(|c| hex.contains(&c)), "{first}");
        assert_ne!(first, second);
        let wide: Vec<char> = "αβγ".chars().collect();
        assert_eq!(generate(7, &wide).expect("random").chars().count(), 7);
    }

    #[test]
    fn every_character_is_drawn_about_as_often() {
        // Three characters: a plain `byte % 3` would draw `a` 86 times in 256
        // and the others 85; rejection keeps them level. Over 30 000 draws each
        // lands within 5% of a third.
        let abc: Vec<char> = "abc".chars().collect();
        let value = generate(30_000, &abc).expect("random");
        for c in abc {
            let count = value.chars().filter(|x| *x == c).count();
            assert!((9_500..=10_500).contains(&count), "{c}: {count}");
        }
    }
}
