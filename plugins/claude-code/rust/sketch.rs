//! The prompt sketch (sketch.go): a feature-hashed sparse vector of a text's words and word
//! bigrams, with Go's Unicode tables (unicode.rs) so that words split and lowercase alike.

use crate::hash::siphash;
use crate::json::{decode_rune, push_rune};
use crate::unicode::{LOWER, WORD};

const SKETCH_DIM: usize = 4096;
const SKETCH_KEEP: usize = 64;

fn is_word(r: u32) -> bool {
    if r < 0x80 {
        return (r as u8).is_ascii_alphanumeric();
    }
    match WORD.binary_search_by(|&(lo, hi)| {
        if hi < r {
            std::cmp::Ordering::Less
        } else if lo > r {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    }) {
        Ok(_) => true,
        Err(_) => false,
    }
}

fn to_lower(r: u32) -> u32 {
    if r < 0x80 {
        return (r as u8).to_ascii_lowercase() as u32;
    }
    let i = LOWER.partition_point(|&(first, _, _, _)| first <= r);
    if i == 0 {
        return r;
    }
    let (first, last, step, delta) = LOWER[i - 1];
    if r <= last && (r - first) % step == 0 {
        (r as i64 + delta as i64) as u32
    } else {
        r
    }
}

/// Computes sketches, reusing its buffers.
pub struct Sketcher {
    counts: Vec<i32>,
    touched: Vec<u16>,
    prev: Vec<u8>,
    word: Vec<u8>,
    pair: Vec<u8>,
    kept: Vec<u16>,
}

impl Sketcher {
    pub fn new() -> Sketcher {
        Sketcher { counts: vec![0; SKETCH_DIM], touched: Vec::new(), prev: Vec::new(), word: Vec::new(), pair: Vec::new(), kept: Vec::new() }
    }

    fn add(counts: &mut [i32], touched: &mut Vec<u16>, k0: u64, k1: u64, token: &[u8]) {
        let h = siphash(k0, k1, token);
        let i = (h % SKETCH_DIM as u64) as usize;
        if counts[i] == 0 {
            touched.push(i as u16);
        }
        if h >> 63 != 0 {
            counts[i] -= 1;
        } else {
            counts[i] += 1;
        }
    }

    fn end(&mut self, k0: u64, k1: u64, words: &mut i64) {
        if self.word.is_empty() {
            return;
        }
        *words += 1;
        Self::add(&mut self.counts, &mut self.touched, k0, k1, &self.word);
        if !self.prev.is_empty() {
            self.pair.clear();
            self.pair.extend_from_slice(&self.prev);
            self.pair.push(b' ');
            self.pair.extend_from_slice(&self.word);
            Self::add(&mut self.counts, &mut self.touched, k0, k1, &self.pair);
        }
        std::mem::swap(&mut self.prev, &mut self.word);
        self.word.clear();
    }

    /// The sketch of text under the SipHash key k0, k1 (entries in index order, empty if none),
    /// and its number of words.
    pub fn sketch(&mut self, k0: u64, k1: u64, text: &[u8]) -> (Vec<(u16, f32)>, i64) {
        self.prev.clear();
        self.word.clear();
        let mut words = 0i64;
        let mut i = 0;
        while i < text.len() {
            let (r, n) = decode_rune(&text[i..]);
            i += n;
            if r != 0xfffd && is_word(r) {
                if r < 0x80 {
                    self.word.push((r as u8).to_ascii_lowercase());
                } else {
                    push_rune(&mut self.word, to_lower(r));
                }
                continue;
            }
            self.end(k0, k1, &mut words);
        }
        self.end(k0, k1, &mut words);

        self.kept.clear();
        let mut seen = [0u64; SKETCH_DIM / 64];
        for &i in &self.touched {
            let i = i as usize;
            if self.counts[i] != 0 && seen[i / 64] & (1 << (i % 64)) == 0 {
                seen[i / 64] |= 1 << (i % 64);
                self.kept.push(i as u16);
            }
        }
        let counts = &self.counts;
        self.kept.sort_unstable_by(|&a, &b| {
            let (ma, mb) = (counts[a as usize].abs(), counts[b as usize].abs());
            mb.cmp(&ma).then(a.cmp(&b))
        });
        self.kept.truncate(SKETCH_KEEP);
        self.kept.sort_unstable();
        let mut norm = 0f64;
        for &i in &self.kept {
            let c = counts[i as usize] as f64;
            norm += c * c;
        }
        let mut out = Vec::new();
        if norm > 0.0 {
            norm = norm.sqrt();
            out.reserve(self.kept.len());
            for &i in &self.kept {
                out.push((i, (counts[i as usize] as f64 / norm) as f32));
            }
        }
        for &i in &self.touched {
            self.counts[i as usize] = 0;
        }
        self.touched.clear();
        (out, words)
    }
}
