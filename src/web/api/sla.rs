//! Service levels in the JSON API: a ticket's `priority`, `category` and `sla` clocks (added
//! to every ticket the API shows; `PATCH /api/v1/tickets/{id}` is with the tickets), the
//! read-only `GET /api/v1/categories`, `/api/v1/calendar` and `/api/v1/sla/policies`, and the
//! dashboard's `"sla"`.

use crate::domain::classification::Priority;
use crate::domain::sla::{self, Clock, Tally, Target, format_clock};
use crate::domain::ticket::Ticket;
use crate::domain::time::format_rfc3339;
use crate::service::sla::{SlaReport, SlaView};
use crate::web::AppState;
use crate::web::error::ApiError;
use crate::web::extract::CurrentUser;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

fn clock_json(c: &Clock) -> Value {
    json!({
        "target_minutes": c.target_minutes,
        "due_at": c.due_at.map(format_rfc3339),
        "elapsed_business_minutes": c.elapsed_secs / 60,
        "met": c.met,
        "breached": c.breached,
        "state": match c.state {
            sla::State::Running => "running",
            sla::State::Paused => "paused",
            sla::State::Stopped => "stopped",
            sla::State::Unknown => "unknown",
        },
    })
}

/// The fields service levels add to a ticket's JSON.
pub fn ticket_fields(t: &Ticket, view: &SlaView, out: &mut serde_json::Map<String, Value>) {
    let clocks = view.clocks(t);
    out.insert("priority".into(), json!(t.sla.priority.as_str()));
    out.insert("priority_label".into(), json!(t.sla.priority.label()));
    out.insert(
        "category".into(),
        t.classification()
            .category
            .map_or(Value::Null, |c| json!({"id": c.id.0, "name": c.name})),
    );
    let mut s = serde_json::Map::new();
    for t in Target::ALL {
        s.insert(t.as_str().into(), clock_json(&clocks[t.index()]));
    }
    out.insert("sla".into(), Value::Object(s));
}

pub async fn categories(
    State(state): State<AppState>,
    _user: CurrentUser,
) -> Result<Response, ApiError> {
    let items: Vec<Value> = state
        .services
        .categories()
        .await?
        .iter()
        .map(|c| json!({"id": c.id.0, "name": c.name, "active": c.active}))
        .collect();
    Ok(axum::Json(json!({"items": items, "next_cursor": null})).into_response())
}

pub async fn calendar(
    State(state): State<AppState>,
    _user: CurrentUser,
) -> Result<Response, ApiError> {
    let settings = state.services.sla_settings().await?;
    let cal = &settings.calendar;
    Ok(axum::Json(json!({
        "time_zone": sla::TIME_ZONE,
        "hours": cal.hours().iter().map(|h| json!({
            "weekday": h.weekday, "from": format_clock(h.from), "to": format_clock(h.to),
        })).collect::<Vec<_>>(),
        "holidays": cal.holidays().iter().map(|h| json!({
            "date": h.date.to_string(), "name": h.name,
        })).collect::<Vec<_>>(),
    }))
    .into_response())
}

pub async fn policies(
    State(state): State<AppState>,
    _user: CurrentUser,
) -> Result<Response, ApiError> {
    let settings = state.services.sla_settings().await?;
    let items: Vec<Value> = Priority::ALL
        .iter()
        .map(|p| {
            let t = settings.targets(*p);
            json!({
                "priority": p.as_str(),
                "assignment": t[Target::Assignment.index()],
                "first_response": t[Target::FirstResponse.index()],
                "resolution": t[Target::Resolution.index()],
            })
        })
        .collect();
    Ok(axum::Json(json!({"items": items})).into_response())
}

fn tally_json(t: &Tally) -> Value {
    json!({"met": t.met, "breached": t.breached, "pct_met": t.pct_met()})
}

fn tallies_json(t: &[Tally; 3]) -> serde_json::Map<String, Value> {
    Target::ALL
        .iter()
        .map(|x| (x.as_str().to_string(), tally_json(&t[x.index()])))
        .collect()
}

/// The dashboard's `"sla"`: per target met, missed and the share met; the same by priority,
/// category and technician; the tickets whose first miss fell in the period.
pub fn dashboard_json(r: &SlaReport) -> Value {
    let mut out = tallies_json(&r.overall);
    out.insert(
        "by_priority".into(),
        r.by_priority
            .iter()
            .map(|(p, t)| {
                let mut m = tallies_json(t);
                m.insert("priority".into(), json!(p.as_str()));
                Value::Object(m)
            })
            .collect(),
    );
    out.insert(
        "by_category".into(),
        r.by_category
            .iter()
            .map(|(name, t)| {
                let mut m = tallies_json(t);
                m.insert("category".into(), json!(name));
                Value::Object(m)
            })
            .collect(),
    );
    out.insert(
        "by_technician".into(),
        r.by_technician
            .iter()
            .map(|(id, name, t)| {
                let mut m = tallies_json(t);
                m.insert(
                    "technician".into(),
                    json!({"id": id.map(|u| u.0), "name": name}),
                );
                Value::Object(m)
            })
            .collect(),
    );
    out.insert(
        "breached_tickets".into(),
        r.breached
            .iter()
            .map(|t| {
                json!({
                    "id": t.id.0,
                    "number": crate::domain::ids::TicketNumber(t.id).to_string(),
                    "subject": t.subject,
                    "status": t.status.as_str(),
                    "priority": t.priority.as_str(),
                    "assignee": t.assignee_id.map(|id| json!({"id": id.0, "name": t.assignee_name})),
                    "breached_at": format_rfc3339(t.at),
                })
            })
            .collect(),
    );
    out.insert("breached_more".into(), json!(r.breached_more));
    Value::Object(out)
}
