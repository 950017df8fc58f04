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

/// A house number and a street name that looks like a proper name ("12
/// Mill Lane", "3a Kingsway Road", "45 St John's Road"). The name must be
/// capitalised, so ordinary sentences ("missed 3 weeks in a row", "left 2
/// days on the street") are left alone, and words that are also common
/// nouns (way, row, walk, hill, close…) count only capitalised, as part of
/// a name; only unmistakable street words may be lower case ("12 Mill
/// lane"). See also [`is_house_number`].
static STREET: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"\b(\d{1,4})[A-Za-z]?,?\s+(?:[A-Z][A-Za-z'’\-]*\s+){1,3}(?:(?i:road|street|lane|avenue|crescent|terrace|gardens)|Rd|St|Ln|Ave|Close|Drive|Dr|Way|Court|Ct|Place|Grove|Mews|Row|Walk|Hill|Parade|Square)\b",
    )
});

/// Whether a street-shaped match starts with a house number rather than a
/// year ("In 2024 High Street was resurfaced").
fn is_house_number(number: &str) -> bool {
    !(number.len() == 4 && (number.starts_with("19") || number.starts_with("20")))
}

/// UK postcodes ("SW1A 1AA", "M1 1AE").
static POSTCODE: LazyLock<Regex> = LazyLock::new(|| regex(r"\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}\b"));

/// A reference, case, account or PCN number: the word, then a code of
/// digits, perhaps after a short prefix and in groups ("case 24-12345",
/// "ref: SR-1234567", "reference 2024/001234"); see [`is_reference_code`].
/// Also National Insurance numbers.
static REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)\b(?:ref(?:erence)?|case|account|acc|claim|application|pcn|ticket|crime)\b\s*(?:no\.?|number|num|#)?\s*[:#]?\s*[a-z]{0,3}[\s\-/]?(\d+(?:[\-/]\d+)*)",
    )
});

/// Whether the digits after a reference word make a reference: at least
/// six in all, with a run of at least five. Dates ("12/03/2024"), years
/// ("2024") and tax years ("2025/26") have no run of five.
fn is_reference_code(code: &str) -> bool {
    let total = code.chars().filter(char::is_ascii_digit).count();
    let longest_run = code.split(['-', '/']).map(str::len).max().unwrap_or(0);
    total >= 6 && longest_run >= 5
}

/// National Insurance numbers ("AB 12 34 56 C").
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
    let street = STREET.captures_iter(text).any(|c| is_house_number(&c[1]));
    if street || POSTCODE.is_match(text) {
        findings.push(Finding::StreetAddress);
    }
    let reference = REFERENCE.captures_iter(text).any(|c| is_reference_code(&c[1]));
    if reference || NATIONAL_INSURANCE.is_match(text) {
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

/// Search text as it is stored (the content-gap log, `search_performed`
/// events): phone numbers, email addresses, reference and National
/// Insurance numbers replaced by `[phone]`, `[email]`, `[reference]`. A
/// search box is not a post: any phone-shaped number goes, not only a
/// person's, since nothing is lost for the gap report.
pub fn redact(text: &str) -> String {
    let text = EMAIL.replace_all(text, "[email]");
    let text = PHONE.replace_all(&text, "[phone]");
    let text = NATIONAL_INSURANCE.replace_all(&text, "[reference]");
    REFERENCE
        .replace_all(&text, |caps: &regex::Captures<'_>| {
            let (whole, code) = (&caps[0], &caps[1]);
            if !is_reference_code(code) {
                return whole.to_owned();
            }
            let start = caps.get(1).map_or(0, |m| m.start() - caps.get(0).map_or(0, |w| w.start()));
            format!("{}[reference]", &whole[..start])
        })
        .into_owned()
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
            ("we moved to 12 Acacia Avenue last year", Finding::StreetAddress),
            ("flat 3, 45 High Street", Finding::StreetAddress),
            ("opposite 7 St John's Road", Finding::StreetAddress),
            ("at 9 Mill lane", Finding::StreetAddress),
            ("2 Rose Hill, near the school", Finding::StreetAddress),
            ("case 24-12345 is still open", Finding::ReferenceNumber),
            ("ref: SR-1234567", Finding::ReferenceNumber),
            ("reference 2024/001234 from the council", Finding::ReferenceNumber),
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
            "They missed 3 weeks in a row",
            "The bags were left 2 days on the street",
            "The tip is 4 miles up the hill",
            "It has to be sorted 1 way or another",
            "In 2024 st louis had the same problem",
            "In 2024 St Louis had the same problem",
            "Since 2023 Station Road has flooded twice",
            "I reported it on 12/03/2024 and again since",
            "my case on 12/03/2024 was closed",
            "my ref is 12/03/2024",
            "the council tax account for 2025/26 went up",
            "case 2024 is a year, not a reference",
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

    #[test]
    fn search_text_is_stored_without_numbers_or_addresses_that_name_someone() {
        assert_eq!(redact("missed bin call me 07700 900123"), "missed bin call me [phone]");
        assert_eq!(redact("jo.bloggs@example.org council tax"), "[email] council tax");
        assert_eq!(redact("pcn AB1234567 appeal"), "pcn AB[reference] appeal");
        assert_eq!(redact("case 24-12345 update"), "case [reference] update");
        assert_eq!(redact("ni AB 12 34 56 C benefits"), "ni [reference] benefits");
        assert_eq!(redact("bin day 2024 christmas"), "bin day 2024 christmas");
        assert_eq!(redact("ref 12/03/2024"), "ref 12/03/2024");
    }
}
