//! Snippets: a window of a hit's body (else its answers) around what the
//! search matched on, HTML-escaped, every match in `<mark>`.
//!
//! tantivy's `SnippetGenerator` marks a query's terms one word at a time
//! and cuts the text into fixed windows. A quoted phrase's words were
//! marked wherever they stood alone, a multi-word synonym ("hole in the
//! road") marked every "in" and "the", and two query words a few words
//! apart but either side of a window's edge were never shown together.
//! Here the query builder records what it matched on ([`Highlights`]):
//! stems (the words, their typo corrections, one-word synonyms) and
//! phrases (quoted text, multi-word synonyms). A phrase is marked only
//! where it occurs, and the window shows as many different ones as fit.

use std::collections::HashMap;
use std::ops::Range;

use tantivy::TantivyDocument;
use tantivy::schema::{Field, Value};
use tantivy::tokenizer::{TextAnalyzer, Token};

use crate::schema::Fields;

/// The most characters a snippet shows.
const SNIPPET_CHARS: usize = 200;
/// How much of a field's text is searched for a snippet.
const SNIPPET_SCAN_BYTES: usize = 1_500;
/// One part in this many of a window's room beside its matches goes before
/// them: enough to read what a match is about, most of it after.
const LEADING_PART: usize = 4;

/// What a search matched on, as stems of the stemmed fields.
#[derive(Debug, Default)]
pub(crate) struct Highlights {
    /// Each stem of a word or phrase → its number.
    stems: HashMap<String, usize>,
    /// By stem number: whether the stem is marked on its own (not only
    /// inside a phrase).
    alone: Vec<bool>,
    /// Phrases of two or more stems, as stem numbers.
    phrases: Vec<Vec<usize>>,
}

impl Highlights {
    /// A stem marked wherever it occurs.
    pub(crate) fn add_stem(&mut self, stem: &str) {
        let number = self.number(stem);
        self.alone[number] = true;
    }

    /// Stems marked where they occur in this order, next to each other.
    pub(crate) fn add_phrase(&mut self, stems: &[String]) {
        if let [stem] = stems {
            return self.add_stem(stem);
        }
        let phrase: Vec<usize> = stems.iter().map(|s| self.number(s)).collect();
        if !phrase.is_empty() && !self.phrases.contains(&phrase) {
            self.phrases.push(phrase);
        }
    }

    fn number(&mut self, stem: &str) -> usize {
        if let Some(&number) = self.stems.get(stem) {
            return number;
        }
        let number = self.alone.len();
        self.stems.insert(stem.to_owned(), number);
        self.alone.push(false);
        number
    }

    /// How many different things a match can be: stems, then phrases.
    fn kinds(&self) -> usize {
        self.alone.len() + self.phrases.len()
    }
}

/// Where a piece of the scanned text is, in bytes (to cut it) and in
/// characters (to measure it).
#[derive(Clone)]
struct Span {
    bytes: Range<usize>,
    chars: Range<usize>,
}

impl Span {
    /// From the start of this one to the end of `other`.
    fn to(&self, other: &Span) -> Span {
        Span { bytes: self.bytes.start..other.bytes.end, chars: self.chars.start..other.chars.end }
    }
}

/// A word of the scanned text; `stem` is its number when it is in a
/// highlight.
struct Word {
    span: Span,
    position: usize,
    stem: Option<usize>,
}

/// A stretch of text to mark and the stem or phrase it is (its kind).
struct Match {
    span: Span,
    kind: usize,
}

/// Character offsets of increasing byte offsets, counted once.
#[derive(Default)]
struct CharCounter {
    byte: usize,
    chars: usize,
}

impl CharCounter {
    fn at(&mut self, text: &str, byte: usize) -> usize {
        let counted = match text.get(self.byte..byte) {
            Some(piece) => self.chars + piece.chars().count(),
            // Out of order: count from the start.
            None => text.get(..byte).map_or(self.chars, |piece| piece.chars().count()),
        };
        (self.byte, self.chars) = (byte, counted);
        counted
    }
}

/// Snippets for one search's hits.
pub(crate) struct Snippets<'a> {
    fields: &'a Fields,
    /// The stemmed fields' analyzer, so words compare with the query's
    /// stems.
    analyzer: TextAnalyzer,
    highlights: Highlights,
}

impl<'a> Snippets<'a> {
    /// Snippets marking `highlights`, whose stems `analyzer` makes.
    pub(crate) fn new(fields: &'a Fields, analyzer: TextAnalyzer, highlights: Highlights) -> Snippets<'a> {
        Snippets { fields, analyzer, highlights }
    }

    /// The body's best window, else the answers', else the start of the
    /// body unmarked.
    pub(crate) fn render(&mut self, doc: &TantivyDocument) -> String {
        for field in [self.fields.body, self.fields.answers] {
            if let Some(html) = self.highlighted(&scanned_text(doc, field)) {
                return html;
            }
        }
        let body = doc.get_first(self.fields.body).and_then(|v| v.as_str()).unwrap_or_default();
        escape_html(&body.chars().take(SNIPPET_CHARS).collect::<String>())
    }

    /// The window of `text` with the most different matches, marked;
    /// `None` when nothing in it matches.
    fn highlighted(&mut self, text: &str) -> Option<String> {
        if self.highlights.stems.is_empty() || text.is_empty() {
            return None;
        }
        let (words, total_chars) = self.words(text);
        let matches = matches(&words, &self.highlights);
        let shown = &matches[best_run(&matches, self.highlights.kinds())];
        let first = shown.first()?;
        // A phrase may end after a later match.
        let last = shown.iter().max_by_key(|m| m.span.bytes.end).unwrap_or(first);
        let window = window(text, &words, &first.span.to(&last.span), total_chars);
        Some(marked_html(text, window, &matches))
    }

    /// The words of `text` and its length in characters.
    fn words(&mut self, text: &str) -> (Vec<Word>, usize) {
        let mut words = Vec::new();
        let mut counter = CharCounter::default();
        let stems = &self.highlights.stems;
        self.analyzer.token_stream(text).process(&mut |token: &Token| {
            let chars = counter.at(text, token.offset_from)..counter.at(text, token.offset_to);
            let span = Span { bytes: token.offset_from..token.offset_to, chars };
            words.push(Word { span, position: token.position, stem: stems.get(&token.text).copied() });
        });
        let total_chars = counter.at(text, text.len());
        (words, total_chars)
    }
}

/// Every stem and phrase occurrence, by where it starts.
fn matches(words: &[Word], highlights: &Highlights) -> Vec<Match> {
    let mut found = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let Some(stem) = word.stem else { continue };
        if highlights.alone.get(stem) == Some(&true) {
            found.push(Match { span: word.span.clone(), kind: stem });
        }
        for (p, phrase) in highlights.phrases.iter().enumerate() {
            if let Some(last) = phrase_end(words, i, phrase) {
                found.push(Match { span: word.span.to(&last.span), kind: highlights.alone.len() + p });
            }
        }
    }
    found
}

/// The phrase's last word when it occurs from word `start` on, at
/// consecutive positions as a phrase query matches it.
fn phrase_end<'w>(words: &'w [Word], start: usize, phrase: &[usize]) -> Option<&'w Word> {
    let run = words.get(start..start + phrase.len())?;
    let first = run.first()?.position;
    let whole = run.iter().zip(phrase).enumerate().all(|(k, (w, &s))| w.stem == Some(s) && w.position == first + k);
    if whole { run.last() } else { None }
}

/// The run of matches a window shows: within a snippet's length, the most
/// different kinds, then the most matches, then the first.
fn best_run(matches: &[Match], kinds: usize) -> Range<usize> {
    let mut counts = vec![0usize; kinds];
    let (mut different, mut end) = (0, 0);
    let mut best = (0, 0, 0..0);
    for start in 0..matches.len() {
        // At least the run's first match, however long.
        while end < matches.len()
            && (end == start
                || matches[end].span.chars.end.saturating_sub(matches[start].span.chars.start) <= SNIPPET_CHARS)
        {
            if let Some(count) = counts.get_mut(matches[end].kind) {
                different += usize::from(*count == 0);
                *count += 1;
            }
            end += 1;
        }
        if (different, end - start) > (best.0, best.1) {
            best = (different, end - start, start..end);
        }
        if let Some(count) = counts.get_mut(matches[start].kind) {
            *count -= 1;
            different -= usize::from(*count == 0);
        }
    }
    best.2
}

/// The bytes shown around `span`: up to a snippet's length, a part of the
/// spare room before it and the rest after (all before when the text ends
/// first), from the start of a word to the end of one.
fn window(text: &str, words: &[Word], span: &Span, total_chars: usize) -> Range<usize> {
    let spare = SNIPPET_CHARS.saturating_sub(span.chars.len());
    let after = total_chars.saturating_sub(span.chars.end);
    let before = (spare / LEADING_PART).max(spare.saturating_sub(after));
    let first_char = span.chars.start.saturating_sub(before);
    let last_char = (first_char + SNIPPET_CHARS).max(span.chars.end);
    let start = if first_char == 0 {
        0
    } else {
        let word = words.iter().find(|w| w.span.chars.start >= first_char);
        word.map_or(span.bytes.start, |w| w.span.bytes.start.min(span.bytes.start))
    };
    let end = if last_char >= total_chars {
        text.len()
    } else {
        let word = words.iter().rev().find(|w| w.span.chars.end <= last_char);
        word.map_or(span.bytes.end, |w| w.span.bytes.end.max(span.bytes.end))
    };
    start..end
}

/// The window's text, escaped, with every match inside it marked
/// (overlapping ones as one).
fn marked_html(text: &str, window: Range<usize>, matches: &[Match]) -> String {
    let piece = |range: Range<usize>| text.get(range).unwrap_or_default();
    let mut marks: Vec<Range<usize>> = Vec::new();
    for bytes in matches.iter().map(|m| &m.span.bytes).filter(|b| window.start <= b.start && b.end <= window.end) {
        match marks.last_mut() {
            Some(last) if bytes.start < last.end => last.end = last.end.max(bytes.end),
            _ => marks.push(bytes.clone()),
        }
    }
    let mut html = String::with_capacity(window.len() + marks.len() * 16);
    let mut at = window.start;
    for mark in marks {
        push_escaped(&mut html, piece(at..mark.start));
        html.push_str("<mark>");
        push_escaped(&mut html, piece(mark.clone()));
        html.push_str("</mark>");
        at = mark.end;
    }
    push_escaped(&mut html, piece(at..window.end));
    html
}

/// The start of a field's text that a snippet is looked for in: tokenizing
/// and stemming whole long posts and answer threads for every hit of a page
/// was most of a search's time, and a snippet from further down is rarely
/// the one a resident needs.
fn scanned_text(doc: &TantivyDocument, field: Field) -> String {
    let mut text = String::new();
    for value in doc.get_all(field).filter_map(|v| v.as_str()) {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(value);
        if text.len() >= SNIPPET_SCAN_BYTES {
            let mut end = SNIPPET_SCAN_BYTES;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            break;
        }
    }
    text
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_escaped(&mut out, text);
    out
}

fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use tantivy::tokenizer::TokenizerManager;

    use super::*;
    use crate::schema::STEMMED;

    fn highlighted(text: &str, stems: &[&str], phrases: &[&[&str]]) -> Option<String> {
        let (_, fields) = crate::schema::build();
        let mut highlights = Highlights::default();
        stems.iter().for_each(|s| highlights.add_stem(s));
        for phrase in phrases {
            highlights.add_phrase(&phrase.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        }
        let analyzer = TokenizerManager::default().get(STEMMED).unwrap();
        Snippets::new(&fields, analyzer, highlights).highlighted(text)
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(escape_html("<b>\"x\" & 'y'</b>"), "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;");
    }

    #[test]
    fn phrases_are_marked_whole_and_overlaps_once() {
        let text = "The road by the hole in the road.";
        assert_eq!(
            highlighted(text, &[], &[&["hole", "in", "the", "road"]]).unwrap(),
            "The road by the <mark>hole in the road</mark>."
        );
        assert_eq!(
            highlighted(text, &["road"], &[&["hole", "in", "the", "road"]]).unwrap(),
            "The <mark>road</mark> by the <mark>hole in the road</mark>."
        );
        assert_eq!(highlighted(text, &["pothol"], &[&["road", "hole"]]), None);
    }

    #[test]
    fn windows_show_the_most_different_matches_with_some_context_before() {
        let filler = "word ".repeat(60);
        let text = format!("{filler}alpha {filler}alpha {filler}beta x gamma {filler}");
        let html = highlighted(&text, &["alpha", "beta", "gamma"], &[]).unwrap();
        assert!(html.contains("<mark>beta</mark> x <mark>gamma</mark>"), "{html}");
        assert!(!html.contains("alpha"), "{html}");
        assert!(html.starts_with("word") && html.chars().count() <= SNIPPET_CHARS + 2 * 13, "{html}");
        let before = html.find("<mark>").unwrap();
        assert!((30..=60).contains(&before), "a quarter of the room goes before: {html}");
        // Near the end of the text the room goes before the matches.
        let html = highlighted(&format!("{filler}end"), &["end"], &[]).unwrap();
        let shown = html.replace("<mark>", "").replace("</mark>", "").chars().count();
        assert!((SNIPPET_CHARS - 5..=SNIPPET_CHARS).contains(&shown), "{html}");
        assert!(html.starts_with("word") && html.ends_with("word <mark>end</mark>"), "{html}");
    }

    #[test]
    fn char_counts_follow_multi_byte_text() {
        let mut counter = CharCounter::default();
        let text = "é漢🚮 bins";
        assert_eq!(counter.at(text, 2), 1);
        assert_eq!(counter.at(text, 9), 3);
        assert_eq!(counter.at(text, text.len()), 8);
        assert_eq!(counter.at(text, 5), 2, "out of order counts from the start");
        assert_eq!(counter.at(text, 1), 2, "inside a character keeps the last count");
    }
}
