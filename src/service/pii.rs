//! The personal-information guard: residents often paste phone numbers,
//! email addresses, home addresses or their council reference numbers into
//! public posts. Posts that look like they do are published with an
//! automatic `personal_info` flag for a moderator to review (and redact by
//! editing). It is a heuristic and says so: a flag, never a block.

use std::sync::LazyLock;

use regex::Regex;

/// What kind of personal information a post seems to contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Finding {
    PhoneNumber,
    EmailAddress,
    StreetAddress,
    ReferenceNumber,
}

impl Finding {
    pub fn describe(self) -> &'static str {
        match self {
            Finding::PhoneNumber => "a phone number",
            Finding::EmailAddress => "an email address",
            Finding::StreetAddress => "a street address",
            Finding::ReferenceNumber => "a case or reference number",
        }
    }
}

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a valid built-in pattern")
}

/// Phone-number-shaped runs of digits (with spaces, dots or dashes).
static PHONE: LazyLock<Regex> = LazyLock::new(|| regex(r"(?:\+44\s?\(?0?\)?\s?|\b0)\d(?:[\s.\-]?\d){8,10}\b"));

/// Whether a phone-shaped match is a person's number: UK mobiles (07) and
/// geographic landlines (01, 02), 10–11 digits. Freephone and service
/// numbers (0800, 03…) belong to organisations; "311" or "2024" never
/// match at all.
fn is_personal_number(found: &str) -> bool {
    let digits: String = found.chars().filter(char::is_ascii_digit).collect();
    let national = match digits.strip_prefix("44") {
        Some(rest) if found.trim_start().starts_with('+') => format!("0{}", rest.trim_start_matches('0')),
        _ => digits,
    };
    (10..=11).contains(&national.len()) && ["07", "01", "02"].iter().any(|p| national.starts_with(p))
}

static EMAIL: LazyLock<Regex> = LazyLock::new(|| regex(r"(?i)\b[a-z0-9._%+\-]+@[a-z0-9.\-]+\.[a-z]{2,}\b"));

/// A house number and a street name ("12 Mill Lane", "3a Kingsway Road").
static STREET: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)\b\d{1,4}[a-z]?,?\s+(?:[a-z'\-]+\s){0,3}(?:road|rd|street|st|lane|ln|avenue|ave|close|drive|dr|way|crescent|court|ct|place|gardens|terrace|grove|mews|row|walk|hill|parade|square)\b",
    )
});

/// UK postcodes ("SW1A 1AA", "M1 1AE").
static POSTCODE: LazyLock<Regex> = LazyLock::new(|| regex(r"\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}\b"));

/// A reference, case, account or PCN number: the word, then a code with at
/// least six digits; also National Insurance numbers.
static REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)\b(?:ref(?:erence)?|case|account|acc|claim|application|pcn|ticket|crime)\b\s*(?:no\.?|number|num|#)?\s*[:#]?\s*[a-z]{0,3}[\s\-/]?\d{6,}",
    )
});
static NATIONAL_INSURANCE: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)\b[A-CEGHJ-PR-TW-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]\b"));

/// The kinds of personal information the text seems to contain.
pub fn scan(text: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    if PHONE.find_iter(text).any(|m| is_personal_number(m.as_str())) {
        findings.push(Finding::PhoneNumber);
    }
    if EMAIL.is_match(text) {
        findings.push(Finding::EmailAddress);
    }
    if STREET.is_match(text) || POSTCODE.is_match(text) {
        findings.push(Finding::StreetAddress);
    }
    if REFERENCE.is_match(text) || NATIONAL_INSURANCE.is_match(text) {
        findings.push(Finding::ReferenceNumber);
    }
    findings
}

/// A note for reviewers: "contains a phone number and an email address".
pub fn describe(findings: &[Finding]) -> String {
    let parts: Vec<&str> = findings.iter().map(|f| f.describe()).collect();
    match parts.as_slice() {
        [] => String::new(),
        [one] => format!("may contain {one}"),
        [init @ .., last] => format!("may contain {} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_personal_information() {
        let cases = [
            ("Ring me on 07700 900123 after six", Finding::PhoneNumber),
            ("my number is +44 7700 900 123", Finding::PhoneNumber),
            ("landline 0161 496 0000", Finding::PhoneNumber),
            ("call 020-7946-0018", Finding::PhoneNumber),
            ("email jane.doe@example.co.uk please", Finding::EmailAddress),
            ("I live at 12 Mill Lane and the bin", Finding::StreetAddress),
            ("outside 3a Kingsway Road", Finding::StreetAddress),
            ("postcode SW1A 1AA", Finding::StreetAddress),
            ("my reference is 12345678", Finding::ReferenceNumber),
            ("Case no. 4455667 was closed", Finding::ReferenceNumber),
            ("PCN AB12345678 for parking", Finding::ReferenceNumber),
            ("council tax account number: 87654321", Finding::ReferenceNumber),
            ("NI number AB 12 34 56 C", Finding::ReferenceNumber),
        ];
        for (text, expected) in cases {
            assert!(scan(text).contains(&expected), "{text}: {:?}", scan(text));
        }
    }

    #[test]
    fn leaves_ordinary_posts_alone() {
        let clean = [
            "call 311 if the bin is missed",
            "since 2024 the collection day changed",
            "Is the 2025/26 council tax band D charge £2,100?",
            "The tip opens at 8.30 and closes at 16:00",
            "I reported it 3 times in 12 days",
            "Bus 42 goes past the library",
            "Phone the council on 0800 123 456",
            "What is the reference for the planning application?",
            "Visit https://www.example.gov.uk/bins for the calendar",
            "We have 2 bins and 3 boxes",
            "Road closed between junctions 4 and 5",
        ];
        for text in clean {
            assert!(scan(text).is_empty(), "{text}: {:?}", scan(text));
        }
    }

    #[test]
    fn describes_findings() {
        assert_eq!(describe(&[Finding::PhoneNumber]), "may contain a phone number");
        assert_eq!(
            describe(&[Finding::PhoneNumber, Finding::EmailAddress, Finding::StreetAddress]),
            "may contain a phone number, an email address and a street address"
        );
    }
}
