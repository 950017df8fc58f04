//! Everyday meaning: a vector for each of about 26,000 English stems,
//! distilled from a sentence-embedding model (all-MiniLM-L6-v2, reading
//! each word with its WordNet definitions) and shipped in the binary
//! (`search-index/model/`, which says how it was made; nothing is fetched
//! at run time). A text's vector is its stems' vectors weighted by tf·idf;
//! two texts sharing no word can still be close ("lorry skipped our
//! house", "bin not collected"). The re-ranking uses it for short drafts,
//! where few words are shared (`features`).

use std::sync::LazyLock;

use rustc_hash::FxHashMap;

use super::draft::Vector;

static TABLE: &[u8] = include_bytes!("../../model/everyday-words.bin");

/// The shipped table, read once.
pub(crate) static EVERYDAY: LazyLock<Everyday> =
    LazyLock::new(|| Everyday::parse(TABLE).expect("the shipped everyday-words table is well-formed"));

/// A text's everyday meaning: its stems' vectors, weighted and summed.
pub(crate) type Dense = Vec<f32>;

pub(crate) struct Everyday {
    dims: usize,
    /// Stem → row.
    rows: FxHashMap<&'static str, u32>,
    /// Row-major, `dims` a row: unit vectors times 127, as int8.
    vectors: &'static [u8],
}

impl Everyday {
    fn parse(bytes: &'static [u8]) -> Option<Everyday> {
        let mut at = bytes.strip_prefix(b"AGWV")?;
        let mut take = |n: usize| -> Option<&'static [u8]> {
            let (head, rest) = at.split_at_checked(n)?;
            at = rest;
            Some(head)
        };
        let dims = usize::from(u16::from_le_bytes(take(2)?.try_into().ok()?));
        let count = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let mut stems = Vec::with_capacity(count);
        for _ in 0..count {
            let len = usize::from(take(1)?[0]);
            stems.push(std::str::from_utf8(take(len)?).ok()?);
        }
        let vectors = take(count * dims)?;
        if !at.is_empty() {
            return None;
        }
        let rows = stems.iter().enumerate().map(|(row, &stem)| (stem, row as u32)).collect();
        Some(Everyday { dims, rows, vectors })
    }

    /// The weighted sum of a tf·idf vector's stems' vectors; `None` when
    /// the table has none of them.
    pub(crate) fn dense(&self, vector: &Vector) -> Option<Dense> {
        let mut sum = vec![0f32; self.dims];
        let mut any = false;
        for (stem, &weight) in vector {
            let Some(&row) = self.rows.get(stem.as_str()) else { continue };
            let row = row as usize;
            let scaled = weight / 127.0;
            for (s, &v) in sum.iter_mut().zip(&self.vectors[row * self.dims..(row + 1) * self.dims]) {
                *s += scaled * f32::from(v as i8);
            }
            any = true;
        }
        any.then_some(sum)
    }

    /// A stem's vector: unit length times 127, as int8 (bytes).
    pub(crate) fn row(&self, stem: &str) -> Option<&'static [u8]> {
        let row = *self.rows.get(stem)? as usize;
        Some(&self.vectors[row * self.dims..(row + 1) * self.dims])
    }
}

/// The cosine of two rows.
fn row_cosine(a: &[u8], b: &[u8]) -> f32 {
    let dot: i32 = a.iter().zip(b).map(|(&x, &y)| i32::from(x as i8) * i32::from(y as i8)).sum();
    dot as f32 / (127.0 * 127.0)
}

/// One of a short draft's typed words, as alignment reads it.
pub(crate) struct DraftWord {
    stem: String,
    /// `None`: a word the table does not know ("Doha").
    row: Option<&'static [u8]>,
    idf: f32,
}

impl DraftWord {
    pub fn new(stem: &str, idf: f32) -> DraftWord {
        DraftWord { stem: stem.to_owned(), row: EVERYDAY.row(stem), idf }
    }
}

/// How closely a text's words stand for each of the draft's, by meaning:
/// each draft word's nearest word of the text (a shared word 1, another
/// by its cosine above `floor`, rescaled to 0–1), weighted by the draft
/// word's idf. A draft word the table does not know counts only when
/// shared. Unlike the cosine of the two texts' summed vectors, one close
/// word is not drowned by the text's others ("lorry" finds "truck" in a
/// long body).
pub(crate) fn alignment(draft: &[DraftWord], text: &FxHashMap<String, f32>, floor: f32) -> f32 {
    let total: f32 = draft.iter().map(|d| d.idf).sum();
    if total == 0.0 {
        return 0.0;
    }
    let mut rows: Option<Vec<&[u8]>> = None;
    let mut near = 0.0;
    for word in draft {
        if text.contains_key(&word.stem) {
            near += word.idf;
            continue;
        }
        let Some(row) = word.row else { continue };
        let rows = rows.get_or_insert_with(|| text.keys().filter_map(|stem| EVERYDAY.row(stem)).collect());
        let best = rows.iter().map(|other| row_cosine(row, other)).fold(0.0, f32::max);
        near += word.idf * ((best - floor) / (1.0 - floor)).max(0.0);
    }
    near / total
}

pub(crate) fn dense_cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let (na, nb) = (norm(a), norm(b));
    if na == 0.0 || nb == 0.0 { 0.0 } else { (dot / (na * nb)).max(0.0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cosine of two texts given as space-separated stems.
    fn likeness(a: &str, b: &str) -> f32 {
        let dense = |stems: &str| EVERYDAY.dense(&stems.split(' ').map(|s| (s.to_owned(), 1.0)).collect()).unwrap();
        dense_cosine(&dense(a), &dense(b))
    }

    #[test]
    fn the_shipped_table_reads_and_relates_everyday_words() {
        assert!(EVERYDAY.rows.len() > 20_000, "{} stems", EVERYDAY.rows.len());
        assert!(likeness("lorri", "truck") > likeness("lorri", "librari") + 0.2, "a lorry is a truck");
        assert!(likeness("rubbish", "garbag") > likeness("rubbish", "pension") + 0.2);
        assert!(likeness("lamp post", "street light") > likeness("lamp post", "council tax") + 0.2);
        assert!(EVERYDAY.dense(&Vector::from_iter([("zzzqx".to_owned(), 1.0)])).is_none(), "unknown stems add nothing");
    }

    #[test]
    fn alignment_finds_each_word_its_nearest_in_meaning() {
        let text = |stems: &str| -> FxHashMap<String, f32> { stems.split(' ').map(|s| (s.to_owned(), 1.0)).collect() };
        let draft = [DraftWord::new("lorri", 2.0), DraftWord::new("skip", 1.0)];
        let bins = alignment(&draft, &text("bin collect miss truck street"), 0.3);
        let tax = alignment(&draft, &text("council tax bill pay direct debit"), 0.3);
        assert!(bins > tax + 0.3, "the lorry is the truck: {bins} against {tax}");
        assert!(bins < 1.0, "only a shared word counts fully");
        assert_eq!(alignment(&draft, &text("lorri skip"), 0.3), 1.0);
        let unknown = [DraftWord::new("zzzqx", 1.0)];
        assert_eq!(alignment(&unknown, &text("zzzqx"), 0.3), 1.0, "a word the table lacks counts when shared");
        assert_eq!(alignment(&unknown, &text("truck"), 0.3), 0.0, "and only then");
        assert_eq!(alignment(&[], &text("truck"), 0.3), 0.0);
    }

    #[test]
    fn a_damaged_table_is_refused() {
        assert!(Everyday::parse(b"AGWV").is_none());
        assert!(Everyday::parse(&TABLE[..TABLE.len() - 1]).is_none(), "cut short");
        assert!(Everyday::parse(b"XXXX\x01\x00\x00\x00\x00\x00").is_none(), "wrong magic");
    }
}
