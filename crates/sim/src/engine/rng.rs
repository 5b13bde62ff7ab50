//! Deterministic randomness: the SplitMix64 generator and the FNV-1a seed hash.

use serde_json::Value;

/// SplitMix64: tiny, fast and stable across platforms and crate versions.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// FNV-1a, for seeding.
#[derive(Debug, Clone, Copy)]
pub struct Hasher(u64);

impl Default for Hasher {
    fn default() -> Self {
        Hasher(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher {
    /// Mix in bytes.
    pub fn bytes(mut self, b: &[u8]) -> Hasher {
        for &x in b {
            self.0 = (self.0 ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3);
        }
        self
    }

    /// Mix in a number.
    pub fn u64(self, v: u64) -> Hasher {
        self.bytes(&v.to_le_bytes())
    }

    /// Mix in a JSON value structurally (no serialisation).
    pub fn value(self, v: &Value) -> Hasher {
        match v {
            Value::Null => self.bytes(b"n"),
            Value::Bool(b) => self.bytes(if *b { b"t" } else { b"f" }),
            Value::Number(n) => self.bytes(b"#").u64(n.as_f64().unwrap_or(0.0).to_bits()),
            Value::String(s) => self.bytes(b"s").u64(s.len() as u64).bytes(s.as_bytes()),
            Value::Array(a) => a
                .iter()
                .fold(self.bytes(b"["), |h, x| h.value(x))
                .bytes(b"]"),
            Value::Object(o) => o
                .iter()
                .fold(self.bytes(b"{"), |h, (k, x)| h.bytes(k.as_bytes()).value(x))
                .bytes(b"}"),
        }
    }

    /// The hash.
    pub fn finish(self) -> u64 {
        self.0
    }
}

/// `len` random base62 characters.
pub fn base62(rng: &mut Rng, len: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    (0..len)
        .map(|_| char::from(ALPHABET[rng.below(62) as usize]))
        .collect()
}
