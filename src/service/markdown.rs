//! Markdown → HTML for every body a user writes: pulldown-cmark renders,
//! ammonia always cleans (no scripts, event handlers or `javascript:` /
//! `data:` URLs survive), and links are marked `noopener noreferrer
//! nofollow` so the site lends no ranking to spam.

use std::collections::HashSet;
use std::sync::LazyLock;

use pulldown_cmark::{Options, Parser, html};

static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        .link_rel(Some("noopener noreferrer nofollow"))
        .url_relative(ammonia::UrlRelative::PassThrough);
    builder
});

/// Renders Markdown to sanitized HTML.
pub fn render(markdown: &str) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TABLES);
    let mut unsafe_html = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut unsafe_html, Parser::new_ext(markdown, options));
    CLEANER.clean(&unsafe_html).to_string()
}

/// Plain text of a Markdown body (for excerpts and link counting).
pub fn plain_text(markdown: &str) -> String {
    let mut text = String::with_capacity(markdown.len());
    for event in Parser::new(markdown) {
        match event {
            pulldown_cmark::Event::Text(t) | pulldown_cmark::Event::Code(t) => text.push_str(&t),
            pulldown_cmark::Event::SoftBreak | pulldown_cmark::Event::HardBreak | pulldown_cmark::Event::End(_)
                if !text.ends_with(' ') =>
            {
                text.push(' ')
            }
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The first `max_chars` characters of the plain text, cut at a word.
pub fn excerpt(markdown: &str, max_chars: usize) -> String {
    let text = plain_text(markdown);
    if text.chars().count() <= max_chars {
        return text;
    }
    let cut: String = text.chars().take(max_chars).collect();
    let cut = cut.rsplit_once(' ').map(|(head, _)| head).unwrap_or(&cut);
    format!("{}…", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_markdown_and_marks_links() {
        let html = render("**Bins** go out on [Tuesday](https://example.org/bins).");
        assert!(html.contains("<strong>Bins</strong>"));
        assert!(html.contains(r#"rel="noopener noreferrer nofollow""#), "{html}");
    }

    #[test]
    fn excerpts_cut_at_words() {
        assert_eq!(excerpt("The *green* bin is collected fortnightly", 20), "The green bin is…");
        assert_eq!(excerpt("short", 20), "short");
    }
}

/// Links in a Markdown body: real links and bare web addresses in text.
pub fn count_links(markdown: &str) -> usize {
    let mut count = 0;
    let mut in_link = 0usize;
    for event in Parser::new(markdown) {
        match event {
            pulldown_cmark::Event::Start(pulldown_cmark::Tag::Link { .. }) => {
                count += 1;
                in_link += 1;
            }
            pulldown_cmark::Event::End(pulldown_cmark::TagEnd::Link) => in_link = in_link.saturating_sub(1),
            pulldown_cmark::Event::Text(text) if in_link == 0 => {
                count += text
                    .split_whitespace()
                    .filter(|word| {
                        let w = word.to_ascii_lowercase();
                        w.starts_with("http://") || w.starts_with("https://") || w.starts_with("www.")
                    })
                    .count();
            }
            _ => {}
        }
    }
    count
}

#[cfg(test)]
mod link_tests {
    #[test]
    fn counts_links_and_bare_addresses() {
        assert_eq!(super::count_links("no links here"), 0);
        assert_eq!(super::count_links("[a](https://a.example) and https://b.example www.c.example"), 3);
        assert_eq!(super::count_links("[https://a.example](https://a.example)"), 1);
        assert_eq!(super::count_links("<https://auto.example>"), 1);
    }
}
