//! `GET /api/v1/dashboard`: the dashboard's figures as JSON (durations in seconds).

use crate::domain::metrics::{Csat, Summary};
use crate::domain::time::format_rfc3339;
use crate::service::reports::Dashboard;
use crate::web::AppState;
use crate::web::error::ApiError;
use crate::web::extract::CurrentUser;
use crate::web::pages::dashboard::{
    ASSIGN_NOTE, BACKLOG_NOTE, CLOSE_NOTE, PeriodQuery, QUEUE_NOTE, RESPONSE_NOTE, WAITING_NOTE,
};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex, Weak};

/// Bodies kept at once (one per dashboard kept by the service that was asked for lately).
const BODIES_KEPT: usize = 16;

/// The JSON bodies of the dashboards the service keeps, each by the very dashboard it was
/// written from: the service shares one computed dashboard with every request until the
/// next change (`Services::dashboard`), and a body is a function of the dashboard alone, so
/// it is written once per dashboard, not once per request (its 200 open tickets, the
/// technicians and the service levels took most of an eight-client request's time at ten
/// million tickets, PERFORMANCE.md). A dashboard dropped by the
/// service can no longer be matched (its `Weak` does not upgrade); the oldest body goes
/// first when `BODIES_KEPT` are kept.
#[derive(Debug, Default)]
pub struct KeptBodies(Mutex<Vec<(Weak<Dashboard>, Bytes)>>);

impl KeptBodies {
    fn find(&self, d: &Arc<Dashboard>) -> Option<Bytes> {
        let kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        kept.iter()
            .find(|(w, _)| w.upgrade().is_some_and(|k| Arc::ptr_eq(&k, d)))
            .map(|(_, b)| b.clone())
    }

    fn keep(&self, d: &Arc<Dashboard>, body: Bytes) {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        kept.retain(|(w, _)| w.strong_count() > 0);
        if kept.len() >= BODIES_KEPT {
            kept.remove(0);
        }
        kept.push((Arc::downgrade(d), body));
    }
}

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
    let body = match state.dashboard_bodies.find(&d) {
        Some(body) => body,
        None => {
            let body = Bytes::from(body(&d).to_string());
            state.dashboard_bodies.keep(&d, body.clone());
            body
        }
    };
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

/// The dashboard as the API shows it.
fn body(d: &Dashboard) -> Value {
    let counts: serde_json::Map<String, Value> = d
        .counts
        .iter()
        .map(|(s, n)| (s.as_str().to_string(), json!(n)))
        .collect();
    json!({
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
    })
}
