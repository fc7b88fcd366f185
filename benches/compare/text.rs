//! What the compare bench's generators write with: a text of lines, and random
//! choices and sentences from the generated runbooks' vocabulary.

use super::rng::Rng;
use super::runbooks::sentence;

pub struct Text<'r> {
    rng: &'r mut Rng,
    pub out: String,
}

impl<'r> Text<'r> {
    pub fn new(rng: &'r mut Rng, capacity: usize) -> Self {
        Text {
            rng,
            out: String::with_capacity(capacity),
        }
    }

    pub fn line(&mut self, line: &str) {
        self.out.push_str(line);
        self.out.push('\n');
    }

    pub fn sentence(&mut self, words: usize) -> String {
        sentence(self.rng, words)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.rng.below(n)
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.below(items.len())]
    }
}
