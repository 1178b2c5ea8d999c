//! `GET /metrics` in the Prometheus text format, and the per-instance request counters behind
//! it. Counters live in this instance's memory (each instance is scraped on its own); the
//! ticket counts come from the database and are the same on every instance.
//!
//! Labels stay bounded: the route is the matched template (`/tickets/{id}`), never the raw
//! path; methods outside the usual seven are `OTHER`; statuses are grouped by class.
//! Who may read it: loopback callers while `SOPORTE_METRICS_TOKEN` is unset, then only
//! `Authorization: Bearer <token>` — the same rule as intake (`extract::check_caller`).

use super::AppState;
use super::error::ApiError;
use super::extract::{CallerRefusals, ClientAddr, check_caller};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const METHODS: [&str; 8] = [
    "GET", "POST", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER",
];
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// The label of requests no route matched (the 404 fallback): one series, whatever the path.
pub const UNMATCHED: &str = "unmatched";

fn method_index(m: &Method) -> usize {
    match *m {
        Method::GET => 0,
        Method::POST => 1,
        Method::HEAD => 2,
        Method::PUT => 3,
        Method::PATCH => 4,
        Method::DELETE => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

#[derive(Debug, Clone, Default)]
struct Series {
    by_class: [u64; 5],
    /// Non-cumulative: `buckets[i]` counts answers in `(BUCKETS[i-1], BUCKETS[i]]`; the last
    /// slot is above the highest bound.
    buckets: [u64; BUCKETS.len() + 1],
    sum_secs: f64,
    count: u64,
}

/// Request counters and latencies of this instance. One short mutex per request: a hash
/// lookup on the route template (no allocation once the route has been seen) and a few adds.
#[derive(Debug)]
pub struct Metrics {
    routes: Mutex<HashMap<String, [Series; METHODS.len()]>>,
    in_flight: AtomicI64,
    /// Event streams (`GET /events`) open on this instance now; shared with each stream's
    /// guard, which lives as long as the stream.
    streams_open: std::sync::Arc<AtomicI64>,
    started_at: i64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            routes: Mutex::new(HashMap::new()),
            in_flight: AtomicI64::new(0),
            streams_open: Default::default(),
            started_at: crate::domain::time::now(),
        }
    }
}

/// Counts a request as in flight until dropped (also when the client goes away mid-answer).
pub struct InFlight<'a>(&'a AtomicI64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts an event stream as open until dropped (the stream ends or the client goes away).
pub struct StreamOpen(std::sync::Arc<AtomicI64>);

impl Drop for StreamOpen {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// A guard counting one open event stream, to keep inside the stream.
    pub fn stream_opened(&self) -> StreamOpen {
        self.streams_open.fetch_add(1, Ordering::Relaxed);
        StreamOpen(self.streams_open.clone())
    }

    pub fn start(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    /// Records one answered request. `route` is the matched template, or `None` for the fallback.
    pub fn record(&self, method: &Method, route: Option<&str>, status: StatusCode, took: Duration) {
        let route = route.unwrap_or(UNMATCHED);
        let secs = took.as_secs_f64();
        let class = usize::from(status.as_u16() / 100).clamp(1, 5) - 1;
        let bucket = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        let mut routes = self
            .routes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let series = match routes.get_mut(route) {
            Some(s) => s,
            None => routes.entry(route.to_string()).or_default(),
        };
        let s = &mut series[method_index(method)];
        s.by_class[class] += 1;
        s.buckets[bucket] += 1;
        s.sum_secs += secs;
        s.count += 1;
    }

    /// The text exposition. `tickets` is `None` when the database did not answer.
    pub fn render(&self, tickets: Option<&[(&str, i64)]>) -> String {
        let mut snapshot: Vec<(String, [Series; METHODS.len()])> = {
            let routes = self
                .routes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            routes.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        snapshot.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = String::with_capacity(4096 + snapshot.len() * 2048);

        out.push_str(
            "# HELP soporte_http_requests_total HTTP requests answered by this instance, by method, route template and status class.\n\
             # TYPE soporte_http_requests_total counter\n",
        );
        for (route, series) in &snapshot {
            for (m, s) in series.iter().enumerate() {
                for (c, n) in s.by_class.iter().enumerate() {
                    if *n > 0 {
                        let _ = writeln!(
                            out,
                            "soporte_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{}\"}} {n}",
                            METHODS[m],
                            escape(route),
                            CLASSES[c]
                        );
                    }
                }
            }
        }

        out.push_str(
            "# HELP soporte_http_request_duration_seconds Time until the response headers, by method and route template.\n\
             # TYPE soporte_http_request_duration_seconds histogram\n",
        );
        for (route, series) in &snapshot {
            for (m, s) in series.iter().enumerate() {
                if s.count == 0 {
                    continue;
                }
                let labels = format!("method=\"{}\",route=\"{}\"", METHODS[m], escape(route));
                let mut cumulative = 0;
                for (i, bound) in BUCKETS.iter().enumerate() {
                    cumulative += s.buckets[i];
                    let _ = writeln!(
                        out,
                        "soporte_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                    );
                }
                let _ = writeln!(
                    out,
                    "soporte_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\n\
                     soporte_http_request_duration_seconds_sum{{{labels}}} {}\n\
                     soporte_http_request_duration_seconds_count{{{labels}}} {}",
                    s.count, s.sum_secs, s.count
                );
            }
        }

        let _ = writeln!(
            out,
            "# HELP soporte_http_requests_in_flight Requests this instance is answering now.\n\
             # TYPE soporte_http_requests_in_flight gauge\n\
             soporte_http_requests_in_flight {}",
            self.in_flight.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP soporte_event_streams_open Event streams (GET /events) this instance holds open now.\n\
             # TYPE soporte_event_streams_open gauge\n\
             soporte_event_streams_open {}",
            self.streams_open.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP soporte_start_time_seconds When this instance started, in Unix seconds.\n\
             # TYPE soporte_start_time_seconds gauge\n\
             soporte_start_time_seconds {}",
            self.started_at
        );
        let _ = writeln!(
            out,
            "# HELP soporte_database_up Whether the database answered this scrape (1) or not (0).\n\
             # TYPE soporte_database_up gauge\n\
             soporte_database_up {}",
            i32::from(tickets.is_some())
        );
        if let Some(tickets) = tickets {
            out.push_str(
                "# HELP soporte_tickets Tickets in the database now, by status (the same on every instance).\n\
                 # TYPE soporte_tickets gauge\n",
            );
            for (status, n) in tickets {
                let _ = writeln!(out, "soporte_tickets{{status=\"{}\"}} {n}", escape(status));
            }
        }
        out
    }
}

/// A label value as the text format wants it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// What `/metrics` says to a caller it refuses.
const REFUSALS: CallerRefusals = CallerRefusals {
    without_token: "Falta el token de métricas: envíe Authorization: Bearer <token>.",
    not_local: "Las métricas solo se sirven a llamadas locales mientras no se configure SOPORTE_METRICS_TOKEN.",
};

/// `GET /metrics`.
pub async fn metrics(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_caller(
        state.config.metrics_token.as_ref(),
        &headers,
        &client,
        &REFUSALS,
    )?;
    let counts = match state.services.ticket_counts_by_status().await {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::error!(error = %e, "failed to read ticket counts for /metrics");
            None
        }
    };
    let tickets: Option<Vec<(&str, i64)>> =
        counts.map(|c| c.iter().map(|(s, n)| (s.as_str(), *n)).collect());
    let mut body = state.metrics.render(tickets.as_deref());
    body.push_str(&write_counters(state.services.write_counts()));
    body.push_str(&mail_gauges(&state).await);
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response())
}

/// The ticket writer's PostgreSQL transactions: how many, their round trips, and how many
/// claimed their ids (one round trip) or had to ask for them after all.
fn write_counters(c: crate::service::ops::WriteCounts) -> String {
    let mut out = String::new();
    for (name, help, n) in [
        (
            "soporte_ticket_write_transactions_total",
            "PostgreSQL transactions of this instance's ticket writer.",
            c.transactions,
        ),
        (
            "soporte_ticket_write_round_trips_total",
            "Messages those transactions sent to PostgreSQL, each one round trip.",
            c.round_trips,
        ),
        (
            "soporte_ticket_write_claimed_total",
            "Batches that claimed their ticket and event ids instead of asking for them.",
            c.claimed,
        ),
        (
            "soporte_ticket_write_asked_again_total",
            "Claimed batches PostgreSQL refused (another writer took ids, or a key was stored) and that were written again.",
            c.asked_again,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {n}"
        );
    }
    out
}

/// The mailbox's gauges: whether each direction's last attempt worked, and when it last
/// did (from the shared database, the same on every instance).
async fn mail_gauges(state: &AppState) -> String {
    use crate::domain::mailbox::{Direction, State as H};
    let (fetch_on, send_on) = state.services.mail_directions();
    let mut out = String::new();
    for (d, on) in [(Direction::Fetch, fetch_on), (Direction::Send, send_on)] {
        let name = d.as_str();
        let health = state.services.mail_health(d).await.ok();
        let ok = health.as_ref().is_some_and(|h| h.state(on) == H::Ok);
        let _ = writeln!(
            out,
            "# HELP soporte_mail_{name}_ok Whether the last mail {name} worked (1) or not (0: failing, not tried yet, or not configured).\n\
             # TYPE soporte_mail_{name}_ok gauge\n\
             soporte_mail_{name}_ok {}",
            i32::from(ok)
        );
        let _ = writeln!(
            out,
            "# HELP soporte_mail_{name}_configured Whether mail {name} is configured on this instance.\n\
             # TYPE soporte_mail_{name}_configured gauge\n\
             soporte_mail_{name}_configured {}",
            i32::from(on)
        );
        if let Some(at) = health.and_then(|h| h.last_success_at) {
            let _ = writeln!(
                out,
                "# HELP soporte_mail_{name}_last_success_seconds When mail {name} last worked (Unix seconds).\n\
                 # TYPE soporte_mail_{name}_last_success_seconds gauge\n\
                 soporte_mail_{name}_last_success_seconds {at}"
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_fall_in_cumulative_buckets_and_routes_stay_templates() {
        let m = Metrics::default();
        m.record(
            &Method::GET,
            Some("/tickets/{id}"),
            StatusCode::OK,
            Duration::from_millis(3),
        );
        m.record(
            &Method::GET,
            Some("/tickets/{id}"),
            StatusCode::NOT_FOUND,
            Duration::from_millis(40),
        );
        m.record(
            &Method::from_bytes(b"BREW").unwrap(),
            None,
            StatusCode::NOT_FOUND,
            Duration::from_secs(20),
        );
        let text = m.render(Some(&[("nuevo", 2)]));
        assert!(text.contains(
            "soporte_http_requests_total{method=\"GET\",route=\"/tickets/{id}\",status=\"2xx\"} 1"
        ));
        assert!(text.contains(
            "soporte_http_requests_total{method=\"GET\",route=\"/tickets/{id}\",status=\"4xx\"} 1"
        ));
        assert!(text.contains(
            "soporte_http_request_duration_seconds_bucket{method=\"GET\",route=\"/tickets/{id}\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "soporte_http_request_duration_seconds_bucket{method=\"GET\",route=\"/tickets/{id}\",le=\"0.05\"} 2"
        ));
        assert!(text.contains(
            "soporte_http_request_duration_seconds_bucket{method=\"OTHER\",route=\"unmatched\",le=\"10\"} 0"
        ));
        assert!(text.contains(
            "soporte_http_request_duration_seconds_bucket{method=\"OTHER\",route=\"unmatched\",le=\"+Inf\"} 1"
        ));
        assert!(text.contains("soporte_tickets{status=\"nuevo\"} 2"));
        assert!(text.contains("soporte_database_up 1"));
        assert!(m.render(None).contains("soporte_database_up 0"));
    }

    #[test]
    fn in_flight_goes_back_down_when_the_guard_drops() {
        let m = Metrics::default();
        let g = m.start();
        assert!(m.render(None).contains("soporte_http_requests_in_flight 1"));
        drop(g);
        assert!(m.render(None).contains("soporte_http_requests_in_flight 0"));
    }

    #[test]
    fn open_streams_are_counted_while_their_guard_lives() {
        let m = Metrics::default();
        let a = m.stream_opened();
        let b = m.stream_opened();
        assert!(m.render(None).contains("soporte_event_streams_open 2"));
        drop(a);
        assert!(m.render(None).contains("soporte_event_streams_open 1"));
        drop(b);
        assert!(m.render(None).contains("soporte_event_streams_open 0"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
