//! Middleware: request id and access log, security headers, session/token resolution, and the
//! same-origin check on state-changing requests.

use super::AppState;
use super::error::{AppError, REQUEST_ID, respond};
use super::extract::{Auth, ClientAddr, SESSION_COOKIE, bearer, cookie};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;

/// Gives every request an id (echoed in `x-request-id` and on error pages) and writes one
/// log line per request: method, path, status, time. Never the query, body or headers.
/// Also counts the request for `/metrics` under its route template (not the raw path).
pub async fn request_log(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let in_flight = state.metrics.start();
    let id = crate::service::random_hex(8).unwrap_or_default();
    let method = req.method().clone();
    let path = logged_path(req.uri().path());
    let route = req.extensions().get::<MatchedPath>().cloned();
    let (parts, body) = req.into_parts();
    let client = ClientAddr::resolve(&parts, &state.config.trusted_proxies).label();
    let req = Request::from_parts(parts, body);
    let started = Instant::now();
    let mut response = REQUEST_ID.scope(id.clone(), next.run(req)).await;
    let took = started.elapsed();
    state.metrics.record(
        &method,
        route.as_ref().map(MatchedPath::as_str),
        response.status(),
        took,
    );
    drop(in_flight);
    let ms = took.as_secs_f64() * 1000.0;
    let status = response.status().as_u16();
    tracing::info!(target: "soporte::http", request_id = %id, %method, %path, status, ms = format!("{ms:.2}"), %client, "request");
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// The path as the access log writes it: a status-page link (`/s/{token}…`) is a credential
/// the requester holds, stored only hashed, so its token never reaches the log.
fn logged_path(path: &str) -> String {
    match path.strip_prefix("/s/") {
        Some(rest) => match rest.split_once('/') {
            Some((_, tail)) => format!("/s/…/{tail}"),
            None => "/s/…".to_string(),
        },
        None => path.to_string(),
    }
}

/// Headers on every response: a CSP without inline script, no framing, no sniffing. A
/// response that brings its own, stricter CSP (an image shown inline) keeps it.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            ),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Resolves the session cookie or personal API token once, for the extractors.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    // Intake and metrics have their own credential; static files and health need none; the
    // requester's status page (`/s/`) is opened by its link alone, never by a staff session.
    let auth = if path.starts_with("/intake/")
        || path.starts_with("/static/")
        || path.starts_with("/s/")
        || path == "/healthz"
        || path == "/metrics"
    {
        Auth::Anonymous
    } else if let Some(token) = bearer(req.headers()) {
        match state.services.token_user(token).await {
            Ok(Some(user)) => Auth::Token(user),
            Ok(None) => Auth::Anonymous,
            Err(e) => {
                let (parts, _) = req.into_parts();
                return respond(&parts, AppError::from(e));
            }
        }
    } else if let Some(token) = cookie(req.headers(), SESSION_COOKIE) {
        match state.services.session(&token).await {
            Ok(Some(mut session)) => {
                if session.user.role == crate::domain::user::Role::Admin {
                    session.alert = state.services.mail_banner().await;
                }
                Auth::Session(session)
            }
            Ok(None) => Auth::Anonymous,
            Err(e) => {
                let (parts, _) = req.into_parts();
                return respond(&parts, AppError::from(e));
            }
        }
    } else {
        Auth::Anonymous
    };
    let menu = match &auth {
        Auth::Session(session) => Some(super::chrome::Chrome::for_session(session, "")),
        _ => None,
    };
    // With read replicas: a signed-in person's change is remembered (where the primary's WAL
    // stood after it), so their next reads wait for a replica that has it.
    let writer = (!matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS))
        .then(|| auth.user().map(|u| u.id))
        .flatten();
    req.extensions_mut().insert(auth);
    let response = super::error::MENU.scope(menu, next.run(req)).await;
    if let Some(user) = writer
        && !response.status().is_server_error()
    {
        state.services.remember_write(user).await;
    }
    response
}

/// Marks every response of the requester's status page as not for search engines (the page
/// also says so in a meta tag): its address is a private link.
pub async fn noindex(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    response.headers_mut().insert(
        "x-robots-tag",
        HeaderValue::from_static("noindex, nofollow"),
    );
    response
}

/// Refuses state-changing requests that a browser marks as cross-site, or whose Origin is
/// not this host. Requests without these headers (curl, MTAs) are judged by their credentials.
pub async fn same_origin(req: Request, next: Next) -> Response {
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if unsafe_method && !req.uri().path().starts_with("/intake/") {
        let headers = req.headers();
        let cross_site = headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == "cross-site");
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        let origin_mismatch = match (
            headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
            host,
        ) {
            (Some("null"), _) => true,
            (Some(origin), Some(host)) => {
                let origin_host = origin.split("://").nth(1).unwrap_or(origin);
                origin_host != host
            }
            _ => false,
        };
        if cross_site || origin_mismatch {
            let (parts, _) = req.into_parts();
            return respond(&parts, AppError::csrf());
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn status_page_tokens_never_reach_the_log() {
        let token = "ab".repeat(20);
        assert_eq!(super::logged_path(&format!("/s/{token}")), "/s/…");
        assert_eq!(
            super::logged_path(&format!("/s/{token}/valorar")),
            "/s/…/valorar"
        );
        assert_eq!(super::logged_path("/tickets/3"), "/tickets/3");
    }
}
