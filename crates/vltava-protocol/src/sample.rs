//! A small seeded generator of random message values, for round-trip
//! property tests and fuzz seeds. Not used by the broker.

use bytes::Bytes;

use crate::codec::{RawTaggedField, Uuid};

/// xorshift64*: tiny, seedable and good enough for test data.
pub struct SampleRng {
    state: u64,
}

impl SampleRng {
    pub fn new(seed: u64) -> Self {
        SampleRng {
            state: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    /// Mostly small values, sometimes the extremes, so defaults (0, -1) and
    /// edge cases both come up.
    fn edgy(&mut self, min: i64, max: i64) -> i64 {
        match self.below(8) {
            0 => min,
            1 => max,
            2 => -1i64.clamp(min, max),
            3 => 0,
            _ => {
                (self.next_u64() as i64)
                    .rem_euclid(max.saturating_sub(min).saturating_add(1).max(1))
                    + min
            }
        }
    }

    pub fn bool(&mut self) -> bool {
        self.one_in(2)
    }
    pub fn i8(&mut self) -> i8 {
        self.edgy(i8::MIN.into(), i8::MAX.into()) as i8
    }
    pub fn i16(&mut self) -> i16 {
        self.edgy(i16::MIN.into(), i16::MAX.into()) as i16
    }
    pub fn i32(&mut self) -> i32 {
        self.edgy(i32::MIN.into(), i32::MAX.into()) as i32
    }
    pub fn i64(&mut self) -> i64 {
        match self.below(4) {
            0 => i64::MIN,
            1 => i64::MAX,
            _ => self.next_u64() as i64,
        }
    }
    pub fn u16(&mut self) -> u16 {
        self.next_u64() as u16
    }
    pub fn u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    pub fn f64(&mut self) -> f64 {
        // Finite values only: NaN never equals itself.
        (self.next_u64() >> 11) as f64 / 1024.0 - 1e12
    }
    pub fn uuid(&mut self) -> Uuid {
        if self.one_in(4) {
            return Uuid::ZERO;
        }
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        id[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        Uuid(id)
    }
    pub fn string(&mut self) -> String {
        const WORDS: [&str; 6] = ["", "a", "topic-1", "ünïcødé", "__consumer_offsets", "x.y_z"];
        let mut s = String::from(WORDS[self.below(WORDS.len() as u64) as usize]);
        if self.one_in(8) {
            s.extend(std::iter::repeat_n('k', self.below(300) as usize));
        }
        s
    }
    pub fn bytes(&mut self) -> Bytes {
        let len = self.below(40) as usize;
        (0..len)
            .map(|_| self.next_u64() as u8)
            .collect::<Vec<u8>>()
            .into()
    }
    pub fn vec<T>(&mut self, mut element: impl FnMut(&mut Self) -> T) -> Vec<T> {
        let len = self.below(4) as usize;
        (0..len).map(|_| element(self)).collect()
    }
    /// `None` now and then where null is allowed.
    pub fn nullable<T>(&mut self, nullable: bool, value: impl FnOnce(&mut Self) -> T) -> Option<T> {
        if nullable && self.one_in(4) {
            None
        } else {
            Some(value(self))
        }
    }
    /// A tagged field from a "future" version: tags from 1000 up never
    /// collide with a known tag.
    pub fn unknown_tagged_field(&mut self) -> RawTaggedField {
        RawTaggedField {
            tag: 1000 + self.below(1000) as u32,
            data: self.bytes(),
        }
    }
}

/// Messages that can produce a random value valid in a version.
pub trait Sample {
    fn sample(rng: &mut SampleRng, version: i16) -> Self;
}
