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
        if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .map(|n| TicketNumber(TicketId(n)))
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
