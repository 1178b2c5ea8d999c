//! `GET /events`: Server-Sent Events announcing new and changed tickets to the signed-in
//! person, with the same visibility as the list (a technician hears only their own tickets).
//! Each event's id is its sequence number, so a browser that reconnects with
//! `Last-Event-ID` gets what it missed; a comment every 15 s keeps proxies from closing it.
//! `?after=N` does the same for a new stream that resumes another one (the browser tab that
//! takes over the shared stream, `static/js/live.js`): an EventSource cannot set the header
//! on its first request. The header wins when both are given.

use super::AppState;
use super::error::ApiError;
use super::extract::CurrentUser;
use crate::service::live::LiveItem;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::Duration;

#[derive(serde::Deserialize, Default)]
pub struct Resume {
    #[serde(default)]
    after: String,
}

pub async fn stream(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Query(resume): Query<Resume>,
) -> Result<Response, ApiError> {
    let position = |v: &str| v.trim().parse::<i64>().ok().filter(|n| *n >= 0);
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(position)
        .or_else(|| position(&resume.after));
    let live = state.services.live(&user.actor(), after).await?;
    let stopping = state.stopping.clone();
    // Counted in /metrics (`soporte_event_streams_open`) for as long as the stream lives.
    let open = state.metrics.stream_opened();
    let events = futures_util::stream::unfold(
        (live, stopping, open),
        |(mut live, mut stopping, open)| async move {
            // The stream ends when the server begins to stop.
            let next = tokio::select! {
                next = live.next() => next,
                _ = stopping.wait_for(|s| *s) => None,
            };
            let event = match next? {
                LiveItem::Changed(n) => {
                    let data = json!({
                        "ticket": n.ticket.0,
                        "number": crate::domain::ids::TicketNumber(n.ticket).to_string(),
                        "status": n.status,
                        "status_label": crate::domain::ticket::Status::parse(&n.status).map(|s| s.label()),
                        "version": n.version,
                        "assignee": n.assignee.map(|u| u.0),
                        "previous_assignee": n.previous_assignee.map(|u| u.0),
                        "kind": n.kind,
                        "label": crate::domain::timeline::EventKind::parse(&n.kind).map(|k| k.label()),
                        "actor": n.actor,
                        "actor_id": n.actor_id.map(|u| u.0),
                        "created": n.created,
                    });
                    Event::default()
                        .event("incidencia")
                        .id(n.seq.to_string())
                        .data(data.to_string())
                }
                LiveItem::Reload => Event::default().event("recargar").data("{}"),
            };
            Some((
                Ok::<_, std::convert::Infallible>(event),
                (live, stopping, open),
            ))
        },
    );
    Ok(Sse::new(events)
        .keep_alive(
            KeepAlive::new()
                .interval(Duration::from_secs(15))
                .text("latido"),
        )
        .into_response())
}
