//! Post values: titles, bodies, comments, tags, areas and category slugs.

use super::bounded_text;

/// A question title: 10–200 characters on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    pub fn parse(input: &str) -> Result<Title, String> {
        bounded_text(input, 10, 200, false).map(Title)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Markdown body of a question or answer: 20–30,000 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body(String);

impl Body {
    pub fn parse(input: &str) -> Result<Body, String> {
        bounded_text(input, 20, 30_000, true).map(Body)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A comment: 1–600 characters of Markdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentBody(String);

impl CommentBody {
    pub fn parse(input: &str) -> Result<CommentBody, String> {
        bounded_text(input, 1, 600, true).map(CommentBody)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A tag name: lowercase letters, digits and hyphens, 2–35 characters.
/// Spaces and underscores become hyphens ("Garden Waste" → "garden-waste").
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TagName(String);

impl TagName {
    pub const MAX_PER_QUESTION: usize = 5;

    pub fn parse(input: &str) -> Result<TagName, String> {
        let name: String =
            input.trim().to_lowercase().chars().map(|c| if c == ' ' || c == '_' { '-' } else { c }).collect();
        if !(2..=35).contains(&name.chars().count()) {
            return Err("tags must be 2 to 35 characters".to_owned());
        }
        if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err(format!("tag '{name}' may contain only letters, digits and hyphens"));
        }
        Ok(TagName(name))
    }

    /// 0–5 distinct tags, in the order given.
    pub fn parse_list(inputs: &[String]) -> Result<Vec<TagName>, String> {
        let mut tags: Vec<TagName> = Vec::new();
        for input in inputs {
            let tag = TagName::parse(input)?;
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        if tags.len() > Self::MAX_PER_QUESTION {
            return Err(format!("at most {} tags", Self::MAX_PER_QUESTION));
        }
        Ok(tags)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A ward or neighbourhood: 1–80 characters on one line, and not `*`
/// (which the deflection reports keep for "any area").
pub fn parse_area(input: &str) -> Result<String, String> {
    let area = bounded_text(input, 1, 80, false)?;
    if area == "*" {
        return Err("must not be '*'".to_owned());
    }
    Ok(area)
}

/// A category slug: 2–40 of `[a-z0-9-]`.
pub fn parse_slug(input: &str) -> Result<String, String> {
    let slug = input.trim();
    let valid = (2..=40).contains(&slug.len())
        && slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid { Ok(slug.to_owned()) } else { Err("must be 2 to 40 of a-z, 0-9 and '-'".to_owned()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_are_one_line_of_80_characters_and_never_the_any_marker() {
        assert_eq!(parse_area("  Castle Hill ").unwrap(), "Castle Hill");
        assert!(parse_area(&"x".repeat(81)).is_err());
        assert!(parse_area("North\nfield").is_err());
        assert!(parse_area("").is_err());
        assert!(parse_area("*").is_err());
        assert_eq!(parse_area("St Anne's *").unwrap(), "St Anne's *");
    }

    #[test]
    fn tags_are_normalised_and_bounded() {
        let tags = TagName::parse_list(&["Garden Waste".into(), "bins".into(), "BINS".into()]).unwrap();
        assert_eq!(tags.iter().map(TagName::as_str).collect::<Vec<_>>(), ["garden-waste", "bins"]);
        assert!(TagName::parse("x").is_err());
        assert!(TagName::parse("bins!").is_err());
        let six: Vec<String> = (0..6).map(|i| format!("tag{i}")).collect();
        assert!(TagName::parse_list(&six).is_err());
    }

    #[test]
    fn titles_and_bodies() {
        assert!(Title::parse("short").is_err());
        assert!(Title::parse("When is my bin collected?").is_ok());
        assert!(Title::parse(&"t".repeat(201)).is_err());
        assert!(Body::parse(&"b".repeat(19)).is_err());
        assert!(Body::parse(&"b".repeat(30_001)).is_err());
        assert!(CommentBody::parse("   ").is_err());
        assert!(parse_slug("waste-recycling").is_ok());
        assert!(parse_slug("Waste").is_err());
    }
}
