//! The benches' random numbers: xorshift64*, seeded by each generator, so every
//! machine writes the same inputs.

/// xorshift64*: small, fast and the same on every machine.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        usize::try_from(x % n.max(1) as u64).unwrap_or(0)
    }
}
