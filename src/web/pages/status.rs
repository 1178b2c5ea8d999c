//! The requester's status page, opened by the link in every e-mail we send them, without an
//! account: `GET /s/{token}` (number, subject, status in plain words, the public timeline with
//! its files), `POST /s/{token}` (their message and files, recorded like an e-mail from them;
//! POST/redirect/GET), `GET /s/{token}/valorar?puntaje=1..5` (only SHOWS the choice: mail
//! scanners open every link), `POST /s/{token}/valorar` (records it) and
//! `GET /s/{token}/adjuntos/{id}` (a file of a public message).
//!
//! Every request is counted per client address first (`guard`, 429 past the limit); no staff
//! session is ever read here (the auth middleware treats `/s/` as anonymous); forms carry a
//! double-submit CSRF token (`STATUS_CSRF_COOKIE`, scoped to `/s/`); every response says
//! `noindex`. What the page shows comes only from `Services::status_page`, which holds the
//! public events alone: never internal notes, staff e-mail addresses or other tickets.

use super::attachments::{FileView, View, attachment_id};
use super::{cookie_header, render, tickets::score_words};
use crate::domain::mail::human_size;
use crate::domain::ticket::{MAX_SCORE, Status};
use crate::domain::time::format_lima;
use crate::domain::timeline::{Event, EventKind};
use crate::service;
use crate::service::status::StatusPage;
use crate::web::AppState;
use crate::web::error::{AppError, request_id};
use crate::web::extract::{ClientAddr, STATUS_CSRF_COOKIE, cookie, tokens_match};
use crate::web::upload::{FilesForm, UploadLimits};
use askama::Template;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// One of the requester's messages or one written to them, ready to show.
pub struct PublicEvent {
    pub label: &'static str,
    /// "Usted", the staff member's name, or "Soporte" (never an address).
    pub who: String,
    pub at: String,
    pub text: Option<String>,
    pub mine: bool,
    pub files: Vec<FileView>,
}

/// A choice of the 1–5 scale.
pub struct ScoreOption {
    pub value: i64,
    pub label: &'static str,
    pub selected: bool,
}

fn scale(selected: Option<i64>) -> Vec<ScoreOption> {
    const WORDS: [&str; 5] = ["Muy mala", "Mala", "Regular", "Buena", "Muy buena"];
    (1..=MAX_SCORE)
        .zip(WORDS)
        .map(|(value, label)| ScoreOption {
            value,
            label,
            selected: selected == Some(value),
        })
        .collect()
}

/// What the page says after a form was sent (POST/redirect/GET: the word travels in the
/// address, the text is ours).
fn confirmation(aviso: &str) -> Option<&'static str> {
    match aviso {
        "mensaje" => Some("Recibimos su mensaje. El técnico lo verá en su incidencia."),
        "valoracion" => Some("Gracias: registramos su valoración."),
        _ => None,
    }
}

#[derive(Template)]
#[template(path = "status/show.html")]
pub struct ShowPage {
    /// `/s/{token}`: where the forms and files of this page are.
    pub base: String,
    pub csrf: String,
    pub number: String,
    pub subject: String,
    pub status: &'static str,
    /// Where the ticket stands, in the requester's words (not the staff's state names).
    pub status_line: &'static str,
    pub created: String,
    pub body: String,
    pub request_files: Vec<FileView>,
    pub events: Vec<PublicEvent>,
    pub closed: bool,
    pub may_rate: bool,
    pub rating: Option<String>,
    pub scale: Vec<ScoreOption>,
    pub comment: String,
    pub notice: Option<&'static str>,
    /// Which form failed ("mensaje" or "valoracion") and why, with what was typed.
    pub error_form: &'static str,
    pub error: Option<String>,
    pub draft: String,
    pub files_hint: String,
}

#[derive(Template)]
#[template(path = "status/rate.html")]
pub struct RatePage {
    pub base: String,
    pub csrf: String,
    pub number: String,
    pub subject: String,
    pub may_rate: bool,
    pub rating: Option<String>,
    pub scale: Vec<ScoreOption>,
    pub comment: String,
    pub error: Option<String>,
}

/// The page for a link that opens nothing, a refused form or too many requests.
#[derive(Template)]
#[template(path = "status/message.html")]
pub struct MessagePage {
    pub title: &'static str,
    pub message: String,
    /// Back to the ticket's page, when the link itself is good.
    pub back: Option<String>,
    pub request_id: String,
}

fn message_page(
    status: StatusCode,
    title: &'static str,
    message: &str,
    back: Option<String>,
) -> Response {
    let page = MessagePage {
        title,
        message: message.to_string(),
        back,
        request_id: if status.is_server_error() {
            request_id()
        } else {
            String::new()
        },
    };
    match page.render() {
        Ok(html) => (status, axum::response::Html(html)).into_response(),
        Err(_) => (status, title).into_response(),
    }
}

/// An error of this page, in its own layout (no staff menu, no link into the help desk).
fn failure(e: AppError, back: Option<String>) -> Response {
    if e.status == StatusCode::NOT_FOUND {
        return message_page(
            StatusCode::NOT_FOUND,
            "Enlace no válido",
            "Este enlace no corresponde a ninguna incidencia o ya venció (deja de funcionar 90 días después del cierre). Si necesita ayuda, responda al último correo que recibió de Soporte.",
            None,
        );
    }
    let title = match e.status {
        StatusCode::FORBIDDEN => "El formulario caducó",
        StatusCode::TOO_MANY_REQUESTS => "Demasiadas solicitudes",
        StatusCode::CONFLICT => "No se pudo registrar",
        s if s.is_server_error() => "Error interno",
        _ => "Solicitud no válida",
    };
    message_page(e.status, title, &e.message, back)
}

/// The 404 of a link that opens nothing, marked noindex (also for addresses under `/s/`
/// that match no route).
pub fn missing() -> Response {
    let mut response = failure(AppError::not_found(), None);
    response.headers_mut().insert(
        "x-robots-tag",
        axum::http::HeaderValue::from_static("noindex, nofollow"),
    );
    response
}

/// Counts every request to the page from the client's address; past the limit, 429.
pub async fn guard(
    State(state): State<AppState>,
    client: ClientAddr,
    req: Request,
    next: Next,
) -> Response {
    match state.services.status_page_request(&client.label()).await {
        Ok(()) => next.run(req).await,
        Err(service::Error::Throttled) => failure(
            AppError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "Llegaron demasiadas solicitudes desde su conexión. Espere un minuto y vuelva a intentarlo.",
            ),
            None,
        ),
        Err(e) => failure(AppError::from(e), None),
    }
}

/// The CSRF token this browser holds for the page (kept if well formed), or a new one.
fn csrf_of(headers: &HeaderMap) -> Result<String, AppError> {
    match cookie(headers, STATUS_CSRF_COOKIE)
        .filter(|c| c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        Some(c) => Ok(c),
        None => service::random_hex(32).map_err(AppError::from),
    }
}

/// A rendered page with the CSRF cookie set (Lax: the link arrives from a mail client, and
/// the cookie it already has is then reused).
fn with_cookie<T: Template>(
    state: &AppState,
    status: StatusCode,
    page: &T,
    csrf: &str,
) -> Response {
    match render(status, page) {
        Ok(mut response) => {
            response.headers_mut().append(
                header::SET_COOKIE,
                cookie_header(
                    STATUS_CSRF_COOKIE,
                    csrf,
                    "/s/",
                    "Lax",
                    state.config.cookie_secure,
                    None,
                ),
            );
            response
        }
        Err(e) => failure(e.0, None),
    }
}

/// Whether a form came from this browser's page.
fn csrf_ok(headers: &HeaderMap, form: &FilesForm) -> bool {
    let expected = cookie(headers, STATUS_CSRF_COOKIE).unwrap_or_default();
    !expected.is_empty() && tokens_match(form.field("csrf_token"), &expected)
}

fn refused_csrf(token: &str) -> Response {
    failure(AppError::csrf(), Some(format!("/s/{token}")))
}

fn who(e: &Event) -> String {
    match e.actor_id {
        Some(_) => e.actor.clone(),
        None if e.kind == EventKind::CustomerMessage || e.kind == EventKind::Rated => {
            "Usted".to_string()
        }
        None => "Soporte".to_string(),
    }
}

fn public_event(e: &Event, files: Vec<FileView>) -> PublicEvent {
    let d = &e.data;
    let (label, text) = match e.kind {
        EventKind::Replied => ("Respuesta de Soporte", d.body.clone()),
        EventKind::CustomerMessage => ("Su mensaje", d.body.clone()),
        EventKind::Reminded => (
            "Recordatorio",
            Some("Esperamos su respuesta para continuar con su incidencia.".to_string()),
        ),
        EventKind::Closed => (
            "Incidencia cerrada",
            d.resolution.clone().map(|r| format!("Resolución: {r}")),
        ),
        EventKind::Rated => (
            "Su valoración",
            d.score.map(|s| match &d.body {
                Some(c) => format!("{} · «{c}»", score_words(s)),
                None => score_words(s),
            }),
        ),
        EventKind::Created => ("Su solicitud", None),
        // Never on this page (`Services::status_page` holds public events only).
        _ => ("Actualización", None),
    };
    PublicEvent {
        label,
        who: who(e),
        at: format_lima(e.at),
        text,
        mine: matches!(e.kind, EventKind::CustomerMessage | EventKind::Rated),
        files,
    }
}

/// The page's content, from what the service gives the link.
fn show_page(state: &AppState, token: &str, page: &StatusPage, csrf: &str) -> ShowPage {
    let base = format!("/s/{token}");
    let files_base = format!("{base}/adjuntos");
    let files_of = |event: i64| -> Vec<FileView> {
        page.attachments
            .iter()
            .filter(|a| a.event == Some(event))
            .map(|a| FileView::new(a, &files_base))
            .collect()
    };
    let created = page
        .events
        .iter()
        .find(|e| e.kind == EventKind::Created)
        .map(|e| e.id);
    let t = &page.ticket;
    let limits = UploadLimits::of(&state.config);
    ShowPage {
        csrf: csrf.to_string(),
        number: t.number().to_string(),
        subject: t.subject.clone(),
        status: t.status.as_str(),
        status_line: t.status.for_requester(),
        created: format_lima(t.created_at),
        body: t.body.clone(),
        request_files: created.map(files_of).unwrap_or_default(),
        events: page
            .events
            .iter()
            .filter(|e| e.kind != EventKind::Created)
            .map(|e| public_event(e, files_of(e.id)))
            .collect(),
        closed: t.status == Status::Cerrado,
        may_rate: page.may_rate(),
        rating: t.rating.map(score_words),
        scale: scale(t.rating),
        comment: t.rating_comment.clone().unwrap_or_default(),
        notice: None,
        error_form: "",
        error: None,
        draft: String::new(),
        files_hint: format!(
            "Hasta {} archivos, de {} cada uno como máximo.",
            limits.files,
            human_size(limits.file_bytes)
        ),
        base,
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    #[serde(default)]
    aviso: String,
}

/// `GET /s/{token}`.
pub async fn show(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<ShowQuery>,
    headers: HeaderMap,
) -> Response {
    let csrf = match csrf_of(&headers) {
        Ok(c) => c,
        Err(e) => return failure(e, None),
    };
    match state.services.status_page(&token).await {
        Ok(page) => {
            let mut view = show_page(&state, &token, &page, &csrf);
            view.notice = confirmation(&q.aviso);
            with_cookie(&state, StatusCode::OK, &view, &csrf)
        }
        Err(e) => failure(e.into(), None),
    }
}

/// The page again after a refused form, with the message at the form and the text kept.
async fn show_again(
    state: &AppState,
    token: &str,
    headers: &HeaderMap,
    form_name: &'static str,
    e: AppError,
    draft: String,
    comment_and_score: Option<(String, Option<i64>)>,
) -> Response {
    if e.status == StatusCode::NOT_FOUND || e.status.is_server_error() {
        return failure(e, None);
    }
    let csrf = match csrf_of(headers) {
        Ok(c) => c,
        Err(e) => return failure(e, None),
    };
    match state.services.status_page(token).await {
        Ok(page) => {
            let mut view = show_page(state, token, &page, &csrf);
            view.error_form = form_name;
            view.error = Some(e.message);
            view.draft = draft;
            if let Some((comment, score)) = comment_and_score {
                view.comment = comment;
                view.scale = scale(score);
            }
            with_cookie(state, e.status, &view, &csrf)
        }
        Err(e) => failure(e.into(), None),
    }
}

/// `POST /s/{token}`: the requester writes (message and files), recorded like an e-mail
/// from them.
pub async fn write(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    form: FilesForm,
) -> Response {
    if !csrf_ok(&headers, &form) {
        return refused_csrf(&token);
    }
    let body = form.field("body").to_string();
    if let Some(mut e) = form.refusal() {
        if form.had_files {
            e.message
                .push_str(" Su texto se conservó; vuelva a adjuntar los archivos.");
        }
        return show_again(&state, &token, &headers, "mensaje", e, body, None).await;
    }
    match state
        .services
        .status_message(&token, &body, form.files)
        .await
    {
        Ok(_) => Redirect::to(&format!("/s/{token}?aviso=mensaje")).into_response(),
        Err(e) => {
            let mut e = AppError::from(e);
            if form.had_files && e.status.is_client_error() {
                e.message
                    .push_str(" Su texto se conservó; vuelva a adjuntar los archivos.");
            }
            show_again(&state, &token, &headers, "mensaje", e, body, None).await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct RateQuery {
    #[serde(default)]
    puntaje: String,
}

/// A score as sent: digits only, else nothing (the domain then refuses it as out of range).
fn score(raw: &str) -> Option<i64> {
    raw.trim().parse::<i64>().ok()
}

fn out_of_scale() -> AppError {
    AppError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
        "Elija una valoración de 1 a 5.",
    )
}

/// `GET /s/{token}/valorar?puntaje=N`: shows the choice, records nothing.
pub async fn rate_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<RateQuery>,
    headers: HeaderMap,
) -> Response {
    let csrf = match csrf_of(&headers) {
        Ok(c) => c,
        Err(e) => return failure(e, None),
    };
    let page = match state.services.status_page(&token).await {
        Ok(p) => p,
        Err(e) => return failure(e.into(), None),
    };
    let asked = score(&q.puntaje);
    let valid = asked.filter(|s| (1..=MAX_SCORE).contains(s));
    let wrong = !q.puntaje.trim().is_empty() && valid.is_none();
    let t = &page.ticket;
    let view = RatePage {
        base: format!("/s/{token}"),
        csrf: csrf.clone(),
        number: t.number().to_string(),
        subject: t.subject.clone(),
        may_rate: page.may_rate(),
        rating: t.rating.map(score_words),
        scale: scale(if wrong { None } else { valid.or(t.rating) }),
        comment: t.rating_comment.clone().unwrap_or_default(),
        error: wrong.then(|| out_of_scale().message),
    };
    let status = if wrong {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    with_cookie(&state, status, &view, &csrf)
}

/// `POST /s/{token}/valorar`: records the rating (again, until the ticket reopens).
pub async fn rate(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    form: FilesForm,
) -> Response {
    if !csrf_ok(&headers, &form) {
        return refused_csrf(&token);
    }
    let comment = form.field("comentario").to_string();
    let chosen = score(form.field("puntaje"));
    let result = match chosen {
        Some(s) if (1..=MAX_SCORE).contains(&s) => state
            .services
            .status_rate(&token, s, &comment)
            .await
            .map_err(AppError::from),
        _ => Err(out_of_scale()),
    };
    match result {
        Ok(()) => Redirect::to(&format!("/s/{token}?aviso=valoracion")).into_response(),
        Err(e) => {
            let from_rate_page = form.field("desde") == "valorar";
            if from_rate_page && e.status.is_client_error() && e.status != StatusCode::NOT_FOUND {
                return rate_again(&state, &token, &headers, e, comment).await;
            }
            show_again(
                &state,
                &token,
                &headers,
                "valoracion",
                e,
                String::new(),
                Some((comment, chosen.filter(|s| (1..=MAX_SCORE).contains(s)))),
            )
            .await
        }
    }
}

/// The rating page again after a refused rating, with the comment kept.
async fn rate_again(
    state: &AppState,
    token: &str,
    headers: &HeaderMap,
    e: AppError,
    comment: String,
) -> Response {
    let csrf = match csrf_of(headers) {
        Ok(c) => c,
        Err(e) => return failure(e, None),
    };
    let page = match state.services.status_page(token).await {
        Ok(p) => p,
        Err(e) => return failure(e.into(), None),
    };
    let t = &page.ticket;
    let view = RatePage {
        base: format!("/s/{token}"),
        csrf: csrf.clone(),
        number: t.number().to_string(),
        subject: t.subject.clone(),
        may_rate: page.may_rate(),
        rating: t.rating.map(score_words),
        scale: scale(None),
        comment,
        error: Some(e.message),
    };
    with_cookie(state, e.status, &view, &csrf)
}

/// `GET /s/{token}/adjuntos/{id}`: a file of a public message (`?vista=miniatura` inline).
pub async fn file(
    State(state): State<AppState>,
    Path((token, id)): Path<(String, String)>,
    Query(view): Query<View>,
) -> Response {
    let id = match attachment_id(&id) {
        Ok(id) => id,
        Err(e) => return failure(e, None),
    };
    match state.services.status_attachment(&token, id).await {
        Ok((info, data)) => match view.respond(&info, data) {
            Ok(r) => r,
            Err(e) => failure(e, None),
        },
        Err(e) => failure(e.into(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_preselects_one_choice_at_most() {
        assert_eq!(
            scale(Some(4))
                .iter()
                .filter(|o| o.selected)
                .map(|o| o.value)
                .collect::<Vec<_>>(),
            [4]
        );
        assert!(scale(Some(9)).iter().all(|o| !o.selected));
        assert_eq!(score(" 3 "), Some(3));
        assert_eq!(score("tres"), None);
    }

    #[test]
    fn only_our_own_words_are_shown_after_a_form() {
        assert!(confirmation("mensaje").is_some());
        assert_eq!(confirmation("<script>"), None);
    }
}
