//! `GET /api/v1/dashboard`: the dashboard's figures as JSON (durations in seconds).

use crate::domain::metrics::{Csat, Summary};
use crate::domain::time::format_rfc3339;
use crate::web::AppState;
use crate::web::error::ApiError;
use crate::web::extract::CurrentUser;
use crate::web::pages::dashboard::{
    ASSIGN_NOTE, BACKLOG_NOTE, CLOSE_NOTE, PeriodQuery, QUEUE_NOTE, RESPONSE_NOTE, WAITING_NOTE,
};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// `{"responses", "mean", "by_score": {"1": n, …, "5": n}}`, with the closes that could have
/// been rated and the share that was.
fn csat(c: &Csat) -> Value {
    let by_score: serde_json::Map<String, Value> = c
        .by_score
        .iter()
        .enumerate()
        .map(|(i, n)| ((i + 1).to_string(), json!(n)))
        .collect();
    json!({"responses": c.responses, "mean": c.mean(), "by_score": by_score, "closes": c.closes, "response_rate": c.response_rate()})
}

fn summary(s: &Summary, note: &str) -> Value {
    json!({"count": s.count, "mean_seconds": s.mean, "median_seconds": s.median, "p90_seconds": s.p90, "formula": note})
}

pub async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<PeriodQuery>,
) -> Result<Response, ApiError> {
    let period = q.period(state.services.now())?;
    let d = state.services.dashboard(&user.actor(), period).await?;
    let counts: serde_json::Map<String, Value> = d
        .counts
        .iter()
        .map(|(s, n)| (s.as_str().to_string(), json!(n)))
        .collect();
    Ok(axum::Json(json!({
        "period": {"from": d.period.from_day.to_string(), "to": d.period.to_day.to_string(), "time_zone": "America/Lima"},
        "scope": if d.technician.is_some() { "own" } else { "all" },
        "counts": counts,
        "open": d.open_total,
        "time_to_assign": summary(&d.assign, ASSIGN_NOTE),
        "time_to_first_response": summary(&d.response, RESPONSE_NOTE),
        "time_to_close": summary(&d.close, CLOSE_NOTE),
        "queue_wait": d.queue_wait.as_ref().map(|s| summary(s, QUEUE_NOTE)),
        "waiting_for_requester": summary(&d.waiting, WAITING_NOTE),
        "csat": csat(&d.csat),
        "waiting_in_queue_now": d.technician.is_none().then_some(d.waiting_now),
        "longest_wait_now_seconds": d.longest_wait_now,
        "returned": d.returned,
        "passed_on": d.passed,
        "recent_handoffs": d.handoffs.iter().map(|h| json!({
            "ticket_id": h.ticket.0, "number": crate::domain::ids::TicketNumber(h.ticket).to_string(),
            "kind": h.kind.as_str(), "actor": h.actor, "at": format_rfc3339(h.at), "reason": h.reason, "to": h.to,
        })).collect::<Vec<_>>(),
        "backlog_age": summary(&d.backlog, BACKLOG_NOTE),
        "backlog_buckets": d.backlog_buckets.iter().map(|(l, n)| json!({"label": l, "count": n})).collect::<Vec<_>>(),
        "open_tickets": d.open_tickets.iter().map(|t| json!({
            "id": t.id.0, "number": t.number().to_string(), "status": t.status.as_str(), "subject": t.subject,
            "assignee": t.assignee_id.map(|id| json!({"id": id.0, "name": t.assignee_name})),
            "age_seconds": d.generated_at - t.created_at,
            "last_event": {"kind": t.last_event_kind, "at": format_rfc3339(t.last_event_at)},
        })).collect::<Vec<_>>(),
        "technicians": d.technicians.iter().map(|t| json!({
            "id": t.id.0, "name": t.name, "active": t.active, "open": t.open, "closed": t.closed,
            "time_to_assign": summary(&t.assign, ASSIGN_NOTE),
            "time_to_first_response": summary(&t.response, RESPONSE_NOTE),
            "time_to_close": summary(&t.close, CLOSE_NOTE),
            "csat": csat(&t.csat),
        })).collect::<Vec<_>>(),
        "daily": d.daily.iter().map(|r| json!({"day": r.day.to_string(), "opened": r.opened, "closed": r.closed})).collect::<Vec<_>>(),
        "sla": super::sla::dashboard_json(&d.sla),
        "generated_at": format_rfc3339(d.generated_at),
    }))
    .into_response())
}
