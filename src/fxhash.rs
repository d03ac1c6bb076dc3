//! A fast, non-cryptographic hasher for the hot maps (block index by usage key, a learner's
//! scores by block, learners by user id).
//!
//! std's `HashMap` hashes with SipHash-1-3, which resists hash flooding but costs tens of
//! nanoseconds per key; a run does hundreds of millions of lookups on small integer keys and
//! on usage keys. This is the multiply-rotate hash of Firefox and rustc ("FxHash"): a
//! multiplication per 8 bytes. Keys come from the operator's own exports, not from an
//! adversary on the network; the worst a crafted export could do is slow its own run.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// `HashMap` with [`FxHasher`].
pub(crate) type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;
/// `HashSet` with [`FxHasher`].
pub(crate) type FxHashSet<T> = HashSet<T, BuildHasherDefault<FxHasher>>;

const K: u64 = 0xf135_7aea_2e62_a9c5;

/// The hasher (see the module docs).
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash ^ word).wrapping_mul(K);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(last) ^ ((rest.len() as u64) << 59));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // The multiplication leaves the low bits weakest; hashbrown takes its bucket from the
        // low bits and its tag from the top seven, so fold the high half down.
        self.hash.rotate_left(26)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};

    fn hash<T: Hash + ?Sized>(t: &T) -> u64 {
        BuildHasherDefault::<FxHasher>::default().hash_one(t)
    }

    #[test]
    fn equal_keys_hash_equal_and_near_keys_differ() {
        assert_eq!(
            hash(&"block-v1:edX+CS101+2024_T1+type@problem+block@p1"),
            hash(&"block-v1:edX+CS101+2024_T1+type@problem+block@p1")
        );
        assert_ne!(
            hash(&"block-v1:a+b+c+type@problem+block@p1"),
            hash(&"block-v1:a+b+c+type@problem+block@p2")
        );
        // Same bytes, different lengths (the zero padding of the last word) hash apart.
        assert_ne!(hash(&[0u8; 3][..]), hash(&[0u8; 4][..]));
        assert_ne!(hash(&1u32), hash(&2u32));
    }

    #[test]
    fn small_integer_keys_spread_over_buckets() {
        // 4096 consecutive ids over 1024 buckets (the low ten bits): no bucket holds more than a
        // handful, as a well-mixed hash gives.
        let mut buckets = [0u32; 1024];
        for i in 0..4096u32 {
            buckets[(hash(&i) & 1023) as usize] += 1;
        }
        assert!(buckets.iter().all(|&n| n <= 16), "max bucket {}", buckets.iter().max().unwrap());
        let mut tags = std::collections::HashSet::new();
        for i in 0..4096u32 {
            tags.insert(hash(&i) >> 57);
        }
        assert!(tags.len() > 100, "top-7-bit tags: {}", tags.len());
    }

    #[test]
    fn maps_work() {
        let mut m: FxHashMap<String, u32> = FxHashMap::default();
        for i in 0..1000 {
            m.insert(format!("key{i}"), i);
        }
        assert_eq!(m.len(), 1000);
        assert_eq!(m.get("key500"), Some(&500));
        assert_eq!(m.get("key1000"), None);
    }
}
