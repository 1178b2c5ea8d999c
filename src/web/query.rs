//! Query parameters shared by pages and the JSON API: the ticket list's filters and keyset
//! cursor (`created_at.id` of the last row shown), and the optional `from`/`to` dates that the
//! list, the dashboard and the exports all take.

use super::error::AppError;
use crate::domain::ids::{TicketNumber, UserId};
use crate::domain::queue::{ListCursor, Sort, View};
use crate::domain::search::terms;
use crate::domain::sla::DueFilter;
use crate::domain::ticket::{Status, TicketFilter};
use crate::domain::time::{lima_range, parse_date};
use axum::http::StatusCode;
use jiff::civil::Date;
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListQuery {
    /// A saved view (`sin_asignar`, `mias`, …); on the page, none means the role's home
    /// unless another filter is given.
    #[serde(default)]
    pub view: String,
    /// One status or several, comma-separated (`nuevo,devuelto`).
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
    /// The position of the page's first row (1-based), carried by the pager's links to say
    /// "26–50 de 1.234"; only words, never used to find rows.
    #[serde(default, deserialize_with = "lenient_pos")]
    pub pos: i64,
    /// `recientes` (default), `antiguas` (`numero`), `actividad`, `prioridad`, `due`.
    #[serde(default)]
    pub sort: String,
    /// `vencidas` or `por_vencer`.
    #[serde(default)]
    pub sla: String,
}

/// `pos` as given, 1 when missing or not a number (it only labels the page).
fn lenient_pos<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let raw = String::deserialize(d)?;
    Ok(raw
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|p| *p > 0)
        .unwrap_or(1))
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
    let (from, to) = (date(from, "desde")?, date(to, "hasta")?);
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(AppError::new(
            StatusCode::BAD_REQUEST,
            "validation",
            "La fecha inicial es posterior a la final.",
        ));
    }
    Ok((from, to))
}

/// The cursor names the row a page continues from: its id and, in a keyed order, its sort
/// value (`k<value>.<id>`); `p` in front asks for the page before it. Opaque to clients.
pub fn encode_cursor(c: ListCursor) -> String {
    let dir = if c.before { "p" } else { "" };
    match c.key {
        Some(key) => format!("{dir}k{key}.{}", c.id),
        None => format!("{dir}{}", c.id),
    }
}

fn decode_cursor(s: &str) -> Option<ListCursor> {
    let id = |t: &str| t.parse::<i64>().ok().filter(|id| *id > 0);
    let (before, s) = match s.strip_prefix('p') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    // `d` is the due order's older spelling.
    match s.strip_prefix('k').or_else(|| s.strip_prefix('d')) {
        Some(rest) => {
            let (key, i) = rest.split_once('.')?;
            Some(ListCursor {
                id: id(i)?,
                key: Some(key.parse().ok()?),
                before,
            })
        }
        None => Some(ListCursor {
            id: id(s)?,
            key: None,
            before,
        }),
    }
}

/// `nuevo,devuelto` → the statuses, each once; a word that is not one is refused.
fn parse_statuses(raw: &str) -> Result<Vec<Status>, AppError> {
    let mut out = Vec::new();
    for word in raw.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let s = Status::parse(word).ok_or_else(|| invalid("El estado no es válido."))?;
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

impl ListQuery {
    /// Whether any filter besides the view, the order and the cursor is given: such a list
    /// overrides the role's home view.
    pub fn has_explicit_filter(&self) -> bool {
        [
            &self.status,
            &self.technician,
            &self.requester,
            &self.q,
            &self.from,
            &self.to,
            &self.sla,
        ]
        .iter()
        .any(|v| !v.trim().is_empty())
    }

    /// The view the list shows: the one named, else (with `home`) the role's home when no
    /// other filter is given. An unknown name is a Spanish 422.
    pub fn view(&self, home: Option<View>) -> Result<Option<View>, AppError> {
        match self.view.trim() {
            "" if self.has_explicit_filter() => Ok(None),
            "" => Ok(home),
            name => View::parse(name).map(Some).ok_or_else(|| {
                invalid(
                    "La vista no es válida (sin_asignar, mias, esperando, vencidas, abiertas, cerradas o todas).",
                )
            }),
        }
    }

    /// The filter, or a Spanish message naming the parameter that is not valid. `view`
    /// narrows it first (for the person `me`); a status given explicitly replaces the view's.
    pub fn to_filter_in(&self, view: Option<View>, me: UserId) -> Result<TicketFilter, AppError> {
        let mut filter = TicketFilter::default();
        if let Some(v) = view {
            v.apply(&mut filter, me);
        }
        let statuses = parse_statuses(&self.status)?;
        if !statuses.is_empty() {
            filter.statuses = statuses;
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
            let digits = q.trim_start_matches('#');
            if q.to_ascii_uppercase().starts_with(TicketNumber::PREFIX) {
                match TicketNumber::parse(q) {
                    Some(n) => filter.number = Some(n.0),
                    None => filter.terms = terms(q),
                }
            } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                // "19995" is most likely INC-019995, and may also be words in a message: the
                // service tries the number first, then the words.
                filter.number = TicketNumber::parse(digits).map(|n| n.0);
                filter.terms = terms(q);
            } else {
                filter.terms = terms(q);
            }
        }
        filter.sort = Sort::parse(&self.sort).ok_or_else(|| {
            invalid("El orden no es válido (recientes, antiguas, actividad, prioridad o due).")
        })?;
        let sla = self.sla.trim();
        if !sla.is_empty() {
            filter.sla = Some(DueFilter::parse(sla).ok_or_else(|| {
                invalid("El filtro de SLA no es válido: debe ser «vencidas» o «por_vencer».")
            })?);
        }
        let cursor = self.cursor.trim();
        if !cursor.is_empty() {
            let c = decode_cursor(cursor).ok_or_else(|| invalid("El cursor no es válido."))?;
            let fits = match filter.sort {
                Sort::Newest | Sort::Oldest => c.key.is_none(),
                Sort::Activity | Sort::Priority => c.key.is_some(),
                Sort::Due => true,
            };
            if !fits {
                return Err(invalid("El cursor no es válido."));
            }
            filter.cursor = Some(c);
        }
        Ok(filter)
    }

    /// The filter without a view (the API's list, unless it names one).
    pub fn to_filter(&self) -> Result<TicketFilter, AppError> {
        self.to_filter_in(None, UserId(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let plain = ListCursor {
            id: 42,
            key: None,
            before: false,
        };
        let keyed = ListCursor {
            id: 7,
            key: Some(1_790_000_000),
            before: true,
        };
        assert_eq!(decode_cursor(&encode_cursor(plain)), Some(plain));
        assert_eq!(decode_cursor(&encode_cursor(keyed)), Some(keyed));
        assert_eq!(decode_cursor("p12").map(|c| c.before), Some(true));
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
    fn a_bare_number_is_tried_as_a_ticket_number_and_as_words() {
        let q = ListQuery {
            q: "19995".into(),
            ..Default::default()
        };
        let f = q.to_filter().unwrap();
        assert_eq!(f.number.map(|n| n.0), Some(19995));
        assert_eq!(f.terms, vec!["19995".to_string()]);
    }

    #[test]
    fn a_reversed_date_range_says_so() {
        let e = date_range("2026-11-30", "2026-11-02").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.message, "La fecha inicial es posterior a la final.");
        assert!(date_range("2026-11-02", "2026-11-02").is_ok());
    }

    #[test]
    fn the_home_view_applies_only_without_other_filters() {
        let home = Some(View::SinAsignar);
        assert_eq!(ListQuery::default().view(home).unwrap(), home);
        let q = ListQuery {
            status: "cerrado".into(),
            ..Default::default()
        };
        assert_eq!(q.view(home).unwrap(), None);
        let q = ListQuery {
            view: "cerradas".into(),
            sort: "antiguas".into(),
            ..Default::default()
        };
        assert_eq!(q.view(home).unwrap(), Some(View::Cerradas));
        let q = ListQuery {
            view: "otra".into(),
            ..Default::default()
        };
        assert!(q.view(home).is_err());
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
            status: "nuevo, devuelto,nuevo".into(),
            ..Default::default()
        };
        assert_eq!(
            q.to_filter().unwrap().statuses,
            vec![Status::Nuevo, Status::Devuelto]
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
        assert_eq!(f.sort, Sort::Due);
        assert_eq!(f.sla, Some(DueFilter::DueSoon));
        let c = f.cursor.unwrap();
        assert_eq!((c.id, c.key, c.before), (7, Some(1_790_000_000), false));
    }
}
