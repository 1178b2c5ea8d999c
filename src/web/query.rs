//! Ticket list parameters shared by the HTML list and the JSON API: filters and the keyset
//! cursor (`created_at.id` of the last row shown).

use super::error::AppError;
use crate::domain::ids::{TicketNumber, UserId};
use crate::domain::search::terms;
use crate::domain::ticket::{Status, TicketFilter};
use crate::domain::time::{lima_range, parse_date};
use axum::http::StatusCode;
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub technician: String,
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub cursor: String,
    #[serde(default)]
    pub limit: Option<i64>,
}

fn invalid(message: &str) -> AppError {
    AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", message)
}

/// The cursor is the id of the last ticket shown (opaque to clients).
pub fn encode_cursor(next: i64) -> String {
    next.to_string()
}

fn decode_cursor(s: &str) -> Option<i64> {
    s.parse().ok().filter(|id| *id > 0)
}

impl ListQuery {
    /// The filter, or a Spanish message naming the parameter that is not valid.
    pub fn to_filter(&self) -> Result<TicketFilter, AppError> {
        let mut filter = TicketFilter::default();
        let status = self.status.trim();
        if !status.is_empty() {
            filter.status =
                Some(Status::parse(status).ok_or_else(|| invalid("El estado no es válido."))?);
        }
        let tech = self.technician.trim();
        if !tech.is_empty() {
            filter.technician = Some(UserId(
                tech.parse()
                    .map_err(|_| invalid("El técnico no es válido."))?,
            ));
        }
        let from = match self.from.trim() {
            "" => None,
            s => Some(
                parse_date(s)
                    .ok_or_else(|| invalid("La fecha «desde» no es válida (aaaa-mm-dd)."))?,
            ),
        };
        let to = match self.to.trim() {
            "" => None,
            s => Some(
                parse_date(s)
                    .ok_or_else(|| invalid("La fecha «hasta» no es válida (aaaa-mm-dd)."))?,
            ),
        };
        (filter.from, filter.to) = lima_range(from, to);
        let q = self.q.trim();
        if !q.is_empty() {
            if q.to_ascii_uppercase().starts_with(TicketNumber::PREFIX) {
                match TicketNumber::parse(q) {
                    Some(n) => filter.number = Some(n.0),
                    None => filter.terms = terms(q),
                }
            } else {
                filter.terms = terms(q);
            }
        }
        let cursor = self.cursor.trim();
        if !cursor.is_empty() {
            filter.after =
                Some(decode_cursor(cursor).ok_or_else(|| invalid("El cursor no es válido."))?);
        }
        Ok(filter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(decode_cursor("x.y"), None);
        assert_eq!(decode_cursor("-3"), None);
    }

    #[test]
    fn a_ticket_number_is_searched_as_a_number() {
        let q = ListQuery {
            q: "INC-000012".into(),
            ..Default::default()
        };
        let f = q.to_filter().unwrap();
        assert_eq!(f.number.map(|n| n.0), Some(12));
        assert!(f.terms.is_empty());
    }

    #[test]
    fn bad_parameters_are_named() {
        let q = ListQuery {
            status: "abierto".into(),
            ..Default::default()
        };
        assert_eq!(
            q.to_filter().unwrap_err().message,
            "El estado no es válido."
        );
    }
}
