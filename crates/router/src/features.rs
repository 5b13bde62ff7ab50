//! Feature extraction: hashed word unigrams and bigrams, character n-grams within words, and a
//! few dense "shape" features (length, digits, math symbols, task label).
//!
//! Extraction is a single pass over the prompt's chars with a fixed-size word buffer and no heap
//! allocation; every feature is reported to a sink as `(group, bucket)`. The sparse groups (words,
//! bigrams, char n-grams) are each scaled by `1/sqrt(occurrences in the group)`, so a long prompt
//! does not drown the dense and prior features; dense features have value 1.

use serde::{Deserialize, Serialize};

use crate::hash::{finish, fnv_step, fnv_str, FNV_OFFSET};

/// Longest word prefix (in chars) used for character n-grams; longer words are truncated.
const MAX_WORD_CHARS: usize = 24;

/// Feature groups. Each sparse group is normalised separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Group {
    /// Lower-cased word unigrams.
    Word = 0,
    /// Lower-cased adjacent word pairs.
    Bigram = 1,
    /// Character n-grams within `<word>` (boundary markers included).
    Char = 2,
    /// Task label × word unigram (a per-task vocabulary).
    TaskWord = 3,
    /// Dense shape and task features, value 1, not normalised.
    Dense = 4,
}

/// Number of groups, for per-group accumulators.
pub(crate) const GROUPS: usize = 5;

/// Which features a model uses. Stored in the model file; a model is only valid with the exact
/// configuration it was trained with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureConfig {
    /// log2 of the number of hash buckets (16 → 65,536 weights per head).
    pub hash_bits: u32,
    /// Use lower-cased word unigrams.
    pub word_unigrams: bool,
    /// Use lower-cased word bigrams.
    pub word_bigrams: bool,
    /// Shortest character n-gram (0 disables character n-grams). Off by default: 3–4-grams
    /// made no measurable difference on the benchmark and nearly double the decision time
    /// (docs/benchmarks.md, "Routing benchmark").
    pub char_ngram_min: usize,
    /// Longest character n-gram.
    pub char_ngram_max: usize,
    /// Use dense shape features (log length, digit count, math symbols).
    pub shape: bool,
    /// Use a one-hot task-label feature, and task × length bucket.
    pub task_onehot: bool,
    /// Use multiple-choice structure features (option count, numeric options, option and stem
    /// length), also crossed with the task label.
    pub structure: bool,
    /// Use task label × word unigram features.
    pub task_words: bool,
    /// Multiplier of the normalised text groups (words, bigrams, char n-grams); with AdaGrad
    /// this acts as their learning rate relative to the dense and prior features.
    pub text_scale: f32,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        Self {
            hash_bits: 16,
            word_unigrams: true,
            word_bigrams: true,
            char_ngram_min: 0,
            char_ngram_max: 4,
            shape: true,
            task_onehot: true,
            text_scale: 0.3,
            task_words: true,
            structure: true,
        }
    }
}

impl FeatureConfig {
    /// Number of hash buckets.
    pub fn buckets(&self) -> usize {
        1usize << self.hash_bits
    }

    fn mask(&self) -> u64 {
        (1u64 << self.hash_bits) - 1
    }
}

// Namespaces keep the same string in different groups in different buckets.
const NS_WORD: u32 = 0x5744;
const NS_BIGRAM: u32 = 0x4247;
const NS_CHAR: u32 = 0x4348;
const NS_LEN: u32 = 0x4c4e;
const NS_DIGITS: u32 = 0x4447;
const NS_MATH: u32 = 0x4d54;
const NS_WORDS: u32 = 0x5743;
const NS_TASK: u32 = 0x544b;
const NS_TASK_LEN: u32 = 0x544c;
const NS_STRUCT: u32 = 0x5354;
const NS_TASK_PART: u32 = 0x5450;

/// Whether a line looks like a multiple-choice option (`A. …`, `b) …`); returns its text.
fn option_text(line: &str) -> Option<&str> {
    let mut it = line.char_indices();
    let (_, c) = it.next()?;
    let (_, d) = it.next()?;
    if c.is_ascii_alphabetic() && c.to_ascii_uppercase() <= 'J' && (d == '.' || d == ')') {
        Some(line[2..].trim())
    } else {
        None
    }
}

/// Multiple-choice structure of a prompt.
#[derive(Debug, Default)]
struct Structure {
    options: usize,
    numeric_options: usize,
    option_chars: usize,
    min_option: usize,
    max_option: usize,
    stem_chars: usize,
    stem_digits: usize,
    caps_words: usize,
    of_the_above: bool,
    /// Options containing a digit.
    digit_options: usize,
    /// Some option is a number with a unit (`3.2 kg`, `15 m/s`).
    units: bool,
    /// Some option combines roman-numbered statements (`I and II`, `II, III`).
    roman_combo: bool,
    /// Word-set signature (64-bit Bloom) of up to 10 options, for their mutual overlap.
    option_sigs: [u64; 10],
}

/// Whether `t` has a number followed by a short unit word (`3.2 kg`, `15 m/s`, `4 eV`).
fn has_unit(t: &str) -> bool {
    let mut prev_num = false;
    for w in t.split(' ') {
        let is_num = w.starts_with(|c: char| c.is_ascii_digit())
            && w.chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | ',' | '^' | '-' | '×'));
        let unit_like = !w.is_empty()
            && w.len() <= 5
            && w.starts_with(|c: char| c.is_ascii_alphabetic())
            && w.chars()
                .all(|c| c.is_ascii_alphabetic() || matches!(c, '/' | '^' | '2' | '3'));
        if prev_num && unit_like {
            return true;
        }
        prev_num = is_num;
    }
    false
}

/// A 64-bit Bloom signature of the lower-cased ASCII-alphanumeric words of `text` (bytes; a
/// non-ASCII byte is part of a word).
fn word_signature(text: &str) -> u64 {
    let mut sig = 0u64;
    let mut h = FNV_OFFSET;
    let mut in_word = false;
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || b >= 0x80 {
            h = fnv_step(h, u32::from(b.to_ascii_lowercase()));
            in_word = true;
        } else if in_word {
            sig |= 1u64 << (finish(h) & 63);
            h = FNV_OFFSET;
            in_word = false;
        }
    }
    if in_word {
        sig |= 1u64 << (finish(h) & 63);
    }
    sig
}

impl Structure {
    /// Mean pairwise Jaccard overlap of the options' word signatures, in fifths (0..=5).
    fn overlap_fifths(&self) -> u32 {
        let n = self.options.min(self.option_sigs.len());
        let (mut sum, mut pairs) = (0.0f32, 0u32);
        for i in 0..n {
            for j in i + 1..n {
                let (a, b) = (self.option_sigs[i], self.option_sigs[j]);
                let union = (a | b).count_ones();
                if union > 0 {
                    sum += (a & b).count_ones() as f32 / union as f32;
                }
                pairs += 1;
            }
        }
        if pairs == 0 {
            return 0;
        }
        ((sum / pairs as f32) * 5.0) as u32 + 1
    }
}

/// Option statistics over `options` (the prompt from its first option line on); the stem
/// fields are filled in by the caller's main pass. No allocation.
fn structure(options: &str) -> Structure {
    let mut st = Structure {
        min_option: usize::MAX,
        ..Structure::default()
    };
    for line in options.lines() {
        let Some(t) = option_text(line) else { continue };
        if let Some(sig) = st.option_sigs.get_mut(st.options) {
            *sig = word_signature(t);
        }
        st.options += 1;
        st.option_chars += t.len();
        st.min_option = st.min_option.min(t.len());
        st.max_option = st.max_option.max(t.len());
        if t.starts_with(|c: char| c.is_ascii_digit() || c == '$' || c == '-' || c == '.') {
            st.numeric_options += 1;
        }
        if t.bytes().any(|b| b.is_ascii_digit()) {
            st.digit_options += 1;
            st.units |= has_unit(t);
        }
        st.roman_combo |= ["I and", "I, ", "II and", "II, ", "III and", "IV and"]
            .iter()
            .any(|p| t.starts_with(p));
        if t.ends_with("of the above") || t.ends_with("of the above.") {
            st.of_the_above = true;
        }
    }
    if st.options == 0 {
        st.min_option = 0;
    }
    st
}

/// Math-ish characters, one dense feature per class present.
fn math_class(c: char) -> Option<u32> {
    Some(match c {
        '=' => 0,
        '+' | '*' | '×' | '÷' => 1,
        '^' => 2,
        '$' | '\\' => 3,
        '%' => 4,
        '√' | '∫' | '∑' | 'π' | '∞' | '≤' | '≥' | '≠' => 5,
        '(' | ')' => 6,
        '/' => 7,
        _ => return None,
    })
}

#[inline]
fn lower(c: char) -> char {
    if c.is_ascii() {
        c.to_ascii_lowercase()
    } else {
        c.to_lowercase().next().unwrap_or(c)
    }
}

fn ilog2_bucket(n: usize) -> u32 {
    (n + 1).ilog2()
}

/// Streams every feature of `(prompt, task)` to `sink(group, bucket)`.
pub(crate) fn extract(
    cfg: &FeatureConfig,
    prompt: &str,
    task: Option<&str>,
    mut sink: impl FnMut(Group, u32),
) {
    let mask = cfg.mask();
    let bucket = |h: u64| (finish(h) & mask) as u32;
    let shift = 64 - cfg.hash_bits;
    // Multiplicative hashing: the top bits of `key · φ·2⁶⁴` (Knuth).
    let char_bucket = |key: u64| (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> shift) as u32;
    let mut word = ['\0'; MAX_WORD_CHARS + 2];
    let mut wlen = 0usize; // chars in the word (may exceed the buffer)
    let mut wh = fnv_step(FNV_OFFSET, NS_WORD);
    let mut prev: Option<u64> = None;
    let mut words = 0usize;
    let mut digits = 0usize;
    let mut math = 0u32;
    let task_hash = fnv_str(NS_TASK, task.unwrap_or(""));
    // Stem statistics for the structure features, gathered in this pass: the stem is the text
    // before the first option line (`A. …`).
    let mut opts_start: Option<usize> = None;
    let (mut line_start, mut line_pos, mut line_c0) = (0usize, 0usize, '\0');
    let (mut stem_digits, mut stem_caps, mut all_caps) = (0usize, 0usize, true);

    let mut flush = |word: &mut [char], wlen: &mut usize, wh: &mut u64, words: &mut usize| {
        if *wlen == 0 {
            return;
        }
        *words += 1;
        if cfg.word_unigrams {
            sink(Group::Word, bucket(*wh));
        }
        if cfg.task_words {
            sink(Group::TaskWord, bucket(*wh ^ task_hash.rotate_left(29)));
        }
        if cfg.word_bigrams {
            if let Some(p) = prev {
                sink(
                    Group::Bigram,
                    bucket(p ^ wh.rotate_left(23) ^ u64::from(NS_BIGRAM)),
                );
            }
            prev = Some(*wh);
        }
        if cfg.char_ngram_min > 0 {
            let n = (*wlen).min(MAX_WORD_CHARS);
            word[n + 1] = '>';
            let seq = &word[..n + 2];
            // The n-gram key packs its chars (16 bits apart, rotating), so the keys of
            // different start positions are independent: no chain of dependent multiplies.
            for start in 0..seq.len() {
                let mut key = u64::from(NS_CHAR);
                for (k, &c) in seq[start..].iter().take(cfg.char_ngram_max).enumerate() {
                    key = key.rotate_left(16) ^ u64::from(c);
                    if k + 1 >= cfg.char_ngram_min {
                        sink(Group::Char, char_bucket(key));
                    }
                }
            }
        }
        *wlen = 0;
        *wh = fnv_step(FNV_OFFSET, NS_WORD);
    };

    word[0] = '<';
    for (i, c) in prompt.char_indices() {
        if c == '\n' {
            line_start = i + 1;
            line_pos = 0;
        } else {
            if line_pos == 0 {
                line_c0 = c;
            } else if line_pos == 1
                && opts_start.is_none()
                && (c == '.' || c == ')')
                && matches!(line_c0, 'A'..='J' | 'a'..='j')
            {
                opts_start = Some(line_start);
            }
            line_pos += 1;
        }
        if c.is_alphanumeric() {
            all_caps &= c.is_ascii_uppercase();
            if c.is_ascii_digit() && opts_start.is_none() {
                stem_digits += 1;
            }
            let lc = lower(c);
            if wlen < MAX_WORD_CHARS {
                word[wlen + 1] = lc;
            }
            wlen += 1;
            wh = fnv_step(wh, u32::from(lc));
            if c.is_ascii_digit() {
                digits += 1;
            }
        } else {
            if opts_start.is_none() && all_caps && wlen >= 3 {
                stem_caps += 1;
            }
            all_caps = true;
            flush(&mut word, &mut wlen, &mut wh, &mut words);
            if let Some(m) = math_class(c) {
                math |= 1 << m;
            }
        }
    }
    flush(&mut word, &mut wlen, &mut wh, &mut words);

    let len_bucket = ilog2_bucket(prompt.len());
    if cfg.shape {
        sink(
            Group::Dense,
            bucket(fnv_step(fnv_step(FNV_OFFSET, NS_LEN), len_bucket)),
        );
        let d = ilog2_bucket(digits);
        sink(
            Group::Dense,
            bucket(fnv_step(fnv_step(FNV_OFFSET, NS_DIGITS), d)),
        );
        let w = ilog2_bucket(words);
        sink(
            Group::Dense,
            bucket(fnv_step(fnv_step(FNV_OFFSET, NS_WORDS), w)),
        );
        for m in 0..8 {
            if math & (1 << m) != 0 {
                sink(
                    Group::Dense,
                    bucket(fnv_step(fnv_step(FNV_OFFSET, NS_MATH), m)),
                );
            }
        }
    }
    if cfg.structure {
        let stem_end = opts_start.unwrap_or(prompt.len());
        let mut st = structure(prompt.get(stem_end..).unwrap_or(""));
        st.stem_chars = stem_end;
        st.stem_digits = stem_digits;
        st.caps_words = stem_caps;
        let num_class = match (st.numeric_options, st.options) {
            (0, _) => 0,
            (n, o) if n == o => 2,
            _ => 1,
        };
        let spread = st
            .max_option
            .checked_div(st.min_option)
            .map_or(0, ilog2_bucket);
        // (feature id, value, also crossed with the task)
        let feats = [
            (1, ilog2_bucket(st.options), false),
            (2, num_class, true),
            (3, ilog2_bucket(st.option_chars / 8), false),
            (4, ilog2_bucket(st.stem_chars / 16), true),
            (5, ilog2_bucket(st.stem_digits), true),
            (6, ilog2_bucket(st.caps_words), false),
            (7, spread, false),
            (8, u32::from(st.of_the_above), false),
            (9, st.overlap_fifths(), true),
            (10, st.digit_options.min(5) as u32, true),
            (11, u32::from(st.units), false),
            (12, u32::from(st.roman_combo), false),
        ];
        for (k, v, cross) in feats {
            let h = fnv_step(fnv_step(fnv_step(FNV_OFFSET, NS_STRUCT), k), v);
            sink(Group::Dense, bucket(h));
            if cross {
                sink(Group::Dense, bucket(h ^ task_hash.rotate_left(7)));
            }
        }
    }
    if cfg.task_onehot {
        let th = task_hash;
        sink(Group::Dense, bucket(th));
        // Parts of the label ("high_school_physics" → high, school, physics) share strength
        // between related tasks.
        for part in task.unwrap_or("").split(['_', '-', ' ', '/', '.']) {
            if !part.is_empty() {
                sink(Group::Dense, bucket(fnv_str(NS_TASK_PART, part)));
            }
        }
        sink(
            Group::Dense,
            bucket(fnv_step(th ^ u64::from(NS_TASK_LEN), len_bucket)),
        );
    }
}

/// The features of one prompt as a merged sparse vector (training-time representation; the
/// scorer never builds this).
#[derive(Debug, Clone, Default)]
pub(crate) struct SparseRow {
    pub idx: Vec<u32>,
    pub val: Vec<f32>,
}

impl SparseRow {
    /// Builds the row with per-group normalisation, duplicates merged, sorted by index.
    pub(crate) fn from_prompt(cfg: &FeatureConfig, prompt: &str, task: Option<&str>) -> Self {
        let mut raw: Vec<(u32, u8)> = Vec::new();
        let mut counts = [0usize; GROUPS];
        extract(cfg, prompt, task, |g, b| {
            counts[g as usize] += 1;
            raw.push((b, g as u8));
        });
        let scale: [f32; GROUPS] = std::array::from_fn(|g| {
            if g == Group::Dense as usize || counts[g] == 0 {
                1.0
            } else {
                cfg.text_scale / (counts[g] as f32).sqrt()
            }
        });
        raw.sort_unstable_by_key(|&(b, _)| b);
        let mut row = SparseRow::default();
        for (b, g) in raw {
            let v = scale[g as usize];
            if row.idx.last() == Some(&b) {
                if let Some(last) = row.val.last_mut() {
                    *last += v;
                }
            } else {
                row.idx.push(b);
                row.val.push(v);
            }
        }
        row
    }

    /// Appends an extra coordinate (bias, prior) beyond the hash buckets.
    pub(crate) fn push(&mut self, idx: u32, val: f32) {
        self.idx.push(idx);
        self.val.push(val);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_insensitive_and_deterministic() {
        let cfg = FeatureConfig::default();
        let a = SparseRow::from_prompt(&cfg, "What is 2 + 2?", Some("math"));
        let b = SparseRow::from_prompt(&cfg, "wHat is 2 + 2?", Some("math"));
        assert_eq!(a.idx, b.idx);
        assert_eq!(a.val, b.val);
        let c = SparseRow::from_prompt(&cfg, "What is 2 + 2?", Some("law"));
        assert_ne!(a.idx, c.idx);
    }

    #[test]
    fn empty_prompt_has_only_dense_features() {
        let cfg = FeatureConfig::default();
        let row = SparseRow::from_prompt(&cfg, "", None);
        assert!(!row.idx.is_empty());
        assert!(row.val.iter().all(|&v| v == 1.0));
    }
}
