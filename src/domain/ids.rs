//! Identifier newtypes, parsed at the boundary.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A user's database id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub i64);

/// A ticket's database id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TicketId(pub i64);

/// A database id as written in a URL or a form: decimal digits, no sign, no leading zero, no
/// spaces, from 1 to `i64::MAX`. Anything else names no row, so callers treat it as one
/// that does not exist.
fn parse_id(s: &str) -> Option<i64> {
    let digits = s.as_bytes();
    if digits.first().is_none_or(|d| *d == b'0') || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.parse().ok()
}

impl UserId {
    /// Parses an id in its canonical form (see `parse_id`).
    pub fn parse(s: &str) -> Option<UserId> {
        parse_id(s).map(UserId)
    }
}

impl TicketId {
    /// Parses an id in its canonical form (see `parse_id`): `/tickets/12`, never `/tickets/+12`
    /// or `/tickets/012`.
    pub fn parse(s: &str) -> Option<TicketId> {
        parse_id(s).map(TicketId)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The number people quote (`INC-000123`). It is derived from the id, so it is unique and
/// needs no counter of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketNumber(pub TicketId);

impl TicketNumber {
    pub const PREFIX: &'static str = "INC-";

    /// Accepts `INC-000123`, `inc-123` or a bare `123`.
    pub fn parse(s: &str) -> Option<TicketNumber> {
        let s = s.trim();
        let digits = if s.len() > 4 && s[..4].eq_ignore_ascii_case(Self::PREFIX) {
            &s[4..]
        } else {
            s
        };
        // The number is zero-padded; the id inside it is not.
        TicketId::parse(digits.trim_start_matches('0')).map(TicketNumber)
    }

    /// Finds a ticket number inside free text such as a reply's subject (`Re: [INC-000123] …`).
    pub fn find_in(text: &str) -> Option<TicketNumber> {
        let upper = text.to_ascii_uppercase();
        let mut start = 0;
        while let Some(pos) = upper[start..].find(Self::PREFIX) {
            let from = start + pos + Self::PREFIX.len();
            let digits: String = upper[from..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            if digits.len() >= 6
                && let Some(n) = TicketNumber::parse(&digits)
            {
                return Some(n);
            }
            start = from;
        }
        None
    }
}

impl fmt::Display for TicketNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:06}", Self::PREFIX, self.0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_only_in_their_canonical_form() {
        for (text, id) in [("1", 1), ("42", 42), ("9223372036854775807", i64::MAX)] {
            assert_eq!(TicketId::parse(text), Some(TicketId(id)), "{text:?}");
            assert_eq!(UserId::parse(text), Some(UserId(id)), "{text:?}");
        }
        for text in [
            "",
            "0",
            "00",
            "-1",
            "+1",
            "01",
            " 1",
            "1 ",
            "1.0",
            "1e3",
            "0x1",
            "abc",
            "1/2",
            "9223372036854775808",
            "99999999999999999999",
            "\u{663}",
        ] {
            assert_eq!(TicketId::parse(text), None, "{text:?}");
            assert_eq!(UserId::parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn number_is_padded_to_six_digits() {
        assert_eq!(TicketNumber(TicketId(123)).to_string(), "INC-000123");
        assert_eq!(TicketNumber(TicketId(1234567)).to_string(), "INC-1234567");
    }

    #[test]
    fn number_parses_with_or_without_prefix() {
        assert_eq!(
            TicketNumber::parse("INC-000123"),
            Some(TicketNumber(TicketId(123)))
        );
        assert_eq!(
            TicketNumber::parse("inc-42"),
            Some(TicketNumber(TicketId(42)))
        );
        assert_eq!(TicketNumber::parse("42"), Some(TicketNumber(TicketId(42))));
        assert_eq!(TicketNumber::parse("INC-"), None);
        assert_eq!(TicketNumber::parse("INC-0"), None);
        assert_eq!(TicketNumber::parse("camara"), None);
        assert_eq!(TicketNumber::parse("99999999999999999999"), None);
        assert_eq!(TicketNumber::parse("INC-+42"), None);
        assert_eq!(TicketNumber::parse("INC-000"), None);
    }

    #[test]
    fn number_is_found_in_a_reply_subject() {
        assert_eq!(
            TicketNumber::find_in("RE: [INC-000077] Problema de red"),
            Some(TicketNumber(TicketId(77)))
        );
        assert_eq!(TicketNumber::find_in("inc-12 is too short"), None);
        assert_eq!(TicketNumber::find_in("Sin número"), None);
    }
}
