//! The key and value material every contender is fed: fixed-width keys, one value.

/// Bytes in every key (the baseline: 16-byte keys).
pub const KEY_LEN: usize = 16;
/// Bytes in every value (the baseline: 100-byte values).
pub const VALUE_LEN: usize = 100;

/// `n` distinct 16-byte keys in one flat buffer, so a key is a slice and never an allocation.
#[derive(Debug, Clone)]
pub struct Keys {
    flat: Vec<u8>,
}

impl Keys {
    /// Keys `0..n`; key `i` is `k` followed by `i` in 15 decimal digits.
    pub fn new(n: usize) -> Self {
        let mut flat = Vec::with_capacity(n * KEY_LEN);
        for i in 0..n {
            let s = format!("k{i:015}");
            debug_assert_eq!(s.len(), KEY_LEN);
            flat.extend_from_slice(s.as_bytes());
        }
        Self { flat }
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.flat.len() / KEY_LEN
    }

    /// True when there are no keys.
    pub fn is_empty(&self) -> bool {
        self.flat.is_empty()
    }

    /// Key `i`.
    #[inline]
    pub fn get(&self, i: usize) -> &[u8] {
        &self.flat[i * KEY_LEN..(i + 1) * KEY_LEN]
    }
}

/// The value written by every set: `VALUE_LEN` bytes of a fixed pattern.
pub fn value() -> Vec<u8> {
    (0..VALUE_LEN).map(|i| b'a' + (i % 26) as u8).collect()
}

/// A bijection of `0..n` that scatters popular ranks over the key space, so the hot
/// keys are not also the first inserted. `salt` picks one of many such bijections.
#[derive(Debug, Clone, Copy)]
pub struct Scatter {
    n: u64,
    mul: u64,
    add: u64,
}

impl Scatter {
    /// A bijection of `0..n` (`n` non-zero).
    pub fn new(n: usize, salt: u64) -> Self {
        let n = n as u64;
        let mut mul = (0x9E37_79B9u64 + salt * 0x1_0000_0001) % n.max(2);
        while gcd(mul, n) != 1 {
            mul += 1;
        }
        Self {
            n,
            mul,
            add: (salt.wrapping_mul(0x85EB_CA6B)) % n,
        }
    }

    /// Where rank `r` lands.
    #[inline]
    pub fn map(&self, r: usize) -> usize {
        ((u128::from(r as u64) * u128::from(self.mul) + u128::from(self.add)) % u128::from(self.n))
            as usize
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_distinct_and_fixed_width() {
        let k = Keys::new(1000);
        assert_eq!(k.len(), 1000);
        let set: std::collections::HashSet<&[u8]> = (0..1000).map(|i| k.get(i)).collect();
        assert_eq!(set.len(), 1000);
        assert_eq!(k.get(7), b"k000000000000007");
        assert_eq!(value().len(), VALUE_LEN);
    }

    #[test]
    fn scatter_is_a_bijection() {
        for (n, salt) in [(1000, 0), (1 << 10, 3), (997, 5), (1, 0)] {
            let s = Scatter::new(n, salt);
            let mut seen = vec![false; n];
            for r in 0..n {
                let m = s.map(r);
                assert!(!seen[m], "n={n} salt={salt} maps twice to {m}");
                seen[m] = true;
            }
        }
        let a = Scatter::new(1000, 1);
        let b = Scatter::new(1000, 2);
        assert!((0..10).any(|r| a.map(r) != b.map(r)));
    }
}
