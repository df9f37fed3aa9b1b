//! [`XorShift64`]: a tiny repeatable pseudo-random sequence.

/// A small xorshift generator for server selection's random choice (no cryptographic use: it
/// only spreads load) and for tests that need a repeatable sequence.
#[derive(Clone, Debug)]
pub struct XorShift64(u64);

impl XorShift64 {
    /// A generator from `seed` (zero is replaced: xorshift never leaves zero).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// A number below `n` (`n` > 0; 0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        if n == 0 {
            0
        } else {
            (x % n as u64) as usize
        }
    }
}
