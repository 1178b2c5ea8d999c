//! Query parameters shared by pages and the JSON API: the ticket list's filters and keyset
//! cursor (`created_at.id` of the last row shown), and the optional `from`/`to` dates that the
//! list, the dashboard and the exports all take.

use super::error::AppError;
use crate::domain::ids::{TicketNumber, UserId};
use crate::domain::search::terms;
use crate::domain::sla::DueFilter;
use crate::domain::ticket::{Status, TicketFilter};
use crate::domain::time::{lima_range, parse_date};
use crate::service::tickets::Cursor;
use axum::http::StatusCode;
use jiff::civil::Date;
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub technician: String,
    /// One requester's tickets (their address).
    #[serde(default)]
    pub requester: String,
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
    /// `due`: the next due of a running clock first.
    #[serde(default)]
    pub sort: String,
    /// `vencidas` or `por_vencer`.
    #[serde(default)]
    pub sla: String,
}

fn invalid(message: &str) -> AppError {
    AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", message)
}

/// The `from` and `to` parameters (`aaaa-mm-dd`, as `<input type="date">` sends, or
/// `dd/mm/aaaa`), each optional (empty); one that is not a date is a 422 naming it in Spanish,
/// «desde» or «hasta».
pub fn date_range(from: &str, to: &str) -> Result<(Option<Date>, Option<Date>), AppError> {
    let date = |raw: &str, which: &str| match raw.trim() {
        "" => Ok(None),
        s => parse_date(s)
            .map(Some)
            .ok_or_else(|| invalid(&format!("La fecha «{which}» no es válida (aaaa-mm-dd)."))),
    };
    Ok((date(from, "desde")?, date(to, "hasta")?))
}

/// The cursor is the id of the last ticket shown, and in the due order its due as well
/// (`d<due>.<id>`); opaque to clients.
pub fn encode_cursor(next: Cursor) -> String {
    match next.due {
        Some(due) => format!("d{due}.{}", next.id),
        None => next.id.to_string(),
    }
}

fn decode_cursor(s: &str) -> Option<Cursor> {
    let id = |t: &str| t.parse::<i64>().ok().filter(|id| *id > 0);
    match s.strip_prefix('d') {
        Some(rest) => {
            let (due, i) = rest.split_once('.')?;
            Some(Cursor {
                id: id(i)?,
                due: Some(due.parse().ok()?),
            })
        }
        None => Some(Cursor {
            id: id(s)?,
            due: None,
        }),
    }
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
        let requester = self.requester.trim();
        if !requester.is_empty() {
            filter.requester = Some(
                crate::domain::user::Email::parse(requester)
                    .map_err(|_| invalid("El solicitante debe ser un correo electrónico válido."))?
                    .to_string(),
            );
        }
        let tech = self.technician.trim();
        if !tech.is_empty() {
            filter.technician = Some(UserId(
                tech.parse()
                    .map_err(|_| invalid("El técnico no es válido."))?,
            ));
        }
        let (from, to) = date_range(&self.from, &self.to)?;
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
        match self.sort.trim() {
            "" | "recientes" => {}
            "due" | "vencimiento" => filter.by_due = true,
            _ => {
                return Err(invalid(
                    "El orden no es válido: solo se admite «due» (por vencimiento).",
                ));
            }
        }
        let sla = self.sla.trim();
        if !sla.is_empty() {
            filter.sla = Some(DueFilter::parse(sla).ok_or_else(|| {
                invalid("El filtro de SLA no es válido: debe ser «vencidas» o «por_vencer».")
            })?);
        }
        let cursor = self.cursor.trim();
        if !cursor.is_empty() {
            let c = decode_cursor(cursor).ok_or_else(|| invalid("El cursor no es válido."))?;
            if c.due.is_some() && !filter.by_due {
                return Err(invalid("El cursor no es válido."));
            }
            filter.after = Some(c.id);
            filter.after_due = c.due;
        }
        Ok(filter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let plain = Cursor { id: 42, due: None };
        let due = Cursor {
            id: 7,
            due: Some(1_790_000_000),
        };
        assert_eq!(decode_cursor(&encode_cursor(plain)), Some(plain));
        assert_eq!(decode_cursor(&encode_cursor(due)), Some(due));
        assert_eq!(decode_cursor("x.y"), None);
        assert_eq!(decode_cursor("-3"), None);
        assert_eq!(decode_cursor("d12"), None);
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
    fn dates_are_optional_and_a_bad_one_is_named() {
        let d = jiff::civil::date;
        assert_eq!(date_range("", " ").unwrap(), (None, None));
        assert_eq!(
            date_range(" 2026-11-02", "30/11/2026").unwrap(),
            (Some(d(2026, 11, 2)), Some(d(2026, 11, 30)))
        );
        for (from, to, message) in [
            ("ayer", "", "La fecha «desde» no es válida (aaaa-mm-dd)."),
            (
                "",
                "31/02/2026",
                "La fecha «hasta» no es válida (aaaa-mm-dd).",
            ),
            (
                "2026-13-01",
                "mañana",
                "La fecha «desde» no es válida (aaaa-mm-dd).",
            ),
        ] {
            let e = date_range(from, to).unwrap_err();
            assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!((e.code, e.message.as_str()), ("validation", message));
        }
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
        let q = ListQuery {
            sla: "atrasadas".into(),
            ..Default::default()
        };
        assert_eq!(
            q.to_filter().unwrap_err().message,
            "El filtro de SLA no es válido: debe ser «vencidas» o «por_vencer»."
        );
        let q = ListQuery {
            sort: "due".into(),
            sla: "por_vencer".into(),
            cursor: "d1790000000.7".into(),
            ..Default::default()
        };
        let f = q.to_filter().unwrap();
        assert!(f.by_due);
        assert_eq!(f.sla, Some(DueFilter::DueSoon));
        assert_eq!((f.after, f.after_due), (Some(7), Some(1_790_000_000)));
    }
}
