//! Extractors. The signature declares the permission: a handler that takes `Admin` cannot be
//! reached by anyone else. `CurrentUser` → `Staff` → `Admin`; forms come through `CsrfForm`.

use super::AppState;
use super::error::{ApiError, AppError, PageError, respond};
use crate::domain::access::{Capability, may};
use crate::domain::ids::{CategoryId, TicketId, UserId};
use crate::domain::user::{Actor, User};
use crate::service::auth::Session;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;
use std::net::{IpAddr, SocketAddr};
use subtle::ConstantTimeEq;

pub const SESSION_COOKIE: &str = "soporte_session";
pub const LOGIN_CSRF_COOKIE: &str = "soporte_login_csrf";
/// The double-submit CSRF cookie of the requester's status page (no session there), scoped
/// to `/s/`.
pub const STATUS_CSRF_COOKIE: &str = "soporte_status_csrf";
/// The pending second step of a sign-in (path /login, five minutes).
pub const CHALLENGE_COOKIE: &str = "soporte_2fa";

/// How the request authenticated, resolved once by the auth middleware.
#[derive(Debug, Clone)]
pub enum Auth {
    Session(Session),
    Token(User),
    Anonymous,
}

impl Auth {
    pub fn user(&self) -> Option<&User> {
        match self {
            Auth::Session(s) => Some(&s.user),
            Auth::Token(u) => Some(u),
            Auth::Anonymous => None,
        }
    }
}

/// Reads one cookie from the request headers.
pub fn cookie(parts: &axum::http::HeaderMap, name: &str) -> Option<String> {
    parts
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The bearer token of an `Authorization` header.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// A signed-in user (session or API token) who has already chosen their own password.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    /// Present for browser sessions (forms need its CSRF token and flash).
    pub session: Option<Session>,
}

impl CurrentUser {
    pub fn actor(&self) -> Actor {
        self.user.actor()
    }
    pub fn csrf(&self) -> &str {
        self.session
            .as_ref()
            .map(|s| s.csrf_token.as_str())
            .unwrap_or("")
    }
}

/// Refusals by the auth extractors, shaped for the kind of request.
pub struct Refusal(Response);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        self.0
    }
}

fn auth_of(parts: &Parts) -> Auth {
    parts
        .extensions
        .get::<Auth>()
        .cloned()
        .unwrap_or(Auth::Anonymous)
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = Refusal;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let json = super::error::wants_json(parts);
        match auth_of(parts) {
            Auth::Session(session) => {
                if session.user.must_change_password {
                    return Err(Refusal(if json {
                        respond(parts, crate::service::Error::PasswordChangeRequired.into())
                    } else {
                        Redirect::to("/account/password").into_response()
                    }));
                }
                // `--require-2fa-admins`: an administrator who signed in with a password sets
                // up the second factor before anything else.
                if state.services.must_set_up_second_factor(&session) {
                    return Err(Refusal(if json {
                        respond(
                            parts,
                            AppError::forbidden(
                                "Debe activar la verificación en dos pasos antes de continuar.",
                            ),
                        )
                    } else {
                        Redirect::to("/account/2fa").into_response()
                    }));
                }
                Ok(CurrentUser {
                    user: session.user.clone(),
                    session: Some(session),
                })
            }
            Auth::Token(user) => {
                if user.must_change_password {
                    return Err(Refusal(respond(
                        parts,
                        crate::service::Error::PasswordChangeRequired.into(),
                    )));
                }
                Ok(CurrentUser {
                    user,
                    session: None,
                })
            }
            Auth::Anonymous => Err(Refusal(if json {
                respond(parts, AppError::unauthorized())
            } else {
                Redirect::to("/login").into_response()
            })),
        }
    }
}

/// A signed-in browser session, even one that must still change its password.
#[derive(Debug, Clone)]
pub struct AnySession(pub Session);

impl FromRequestParts<AppState> for AnySession {
    type Rejection = Refusal;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match auth_of(parts) {
            Auth::Session(s) => Ok(AnySession(s)),
            _ => Err(Refusal(Redirect::to("/login").into_response())),
        }
    }
}

/// An administrator or dispatcher.
#[derive(Debug, Clone)]
pub struct Staff(pub CurrentUser);

impl FromRequestParts<AppState> for Staff {
    type Rejection = Refusal;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        if may(user.user.role, Capability::Dispatch) {
            Ok(Staff(user))
        } else {
            Err(Refusal(respond(
                parts,
                AppError::forbidden("Esta sección es solo para administradores y derivadores."),
            )))
        }
    }
}

/// An administrator.
#[derive(Debug, Clone)]
pub struct Admin(pub CurrentUser);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Refusal;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        if may(user.user.role, Capability::ManageUsers) {
            Ok(Admin(user))
        } else {
            Err(Refusal(respond(
                parts,
                AppError::forbidden("Esta sección es solo para administradores."),
            )))
        }
    }
}

/// The ticket a route's `{id}` names, parsed once by `TicketId::parse`. Take it after the
/// guard (`CurrentUser`, `Staff`), so that who may ask is settled first. An `{id}` that is not
/// an id answers what a ticket that does not exist answers: 404, as JSON under `/api/` and as
/// the Spanish page elsewhere.
#[derive(Debug, Clone, Copy)]
pub struct TicketPath(pub TicketId);

impl<S: Send + Sync> FromRequestParts<S> for TicketPath {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        id_param(parts, state, TicketId::parse)
            .await
            .map(TicketPath)
    }
}

/// The account a route's `{id}` names (the administrator's pages), parsed once by
/// `UserId::parse`; anything else is the 404 of an account that does not exist.
#[derive(Debug, Clone, Copy)]
pub struct UserPath(pub UserId);

impl<S: Send + Sync> FromRequestParts<S> for UserPath {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        id_param(parts, state, UserId::parse).await.map(UserPath)
    }
}

/// The category a route's `{id}` names (the administrator's Categorías), parsed once by
/// `CategoryId::parse`; anything else is the 404 of a category that does not exist.
#[derive(Debug, Clone, Copy)]
pub struct CategoryPath(pub CategoryId);

impl<S: Send + Sync> FromRequestParts<S> for CategoryPath {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        id_param(parts, state, CategoryId::parse)
            .await
            .map(CategoryPath)
    }
}

/// The `{id}` parameter through the domain's parser, or the 404 the route's handlers give a
/// row that does not exist.
async fn id_param<S: Send + Sync, T>(
    parts: &mut Parts,
    state: &S,
    parse: fn(&str) -> Option<T>,
) -> Result<T, Response> {
    let params = RawPathParams::from_request_parts(parts, state).await.ok();
    params
        .as_ref()
        .and_then(|p| p.iter().find(|(name, _)| *name == "id"))
        .and_then(|(_, raw)| parse(raw))
        .ok_or_else(|| {
            if parts.uri.path().starts_with("/api/") {
                ApiError(AppError::not_found()).into_response()
            } else {
                PageError(AppError::not_found()).into_response()
            }
        })
}

/// Where the request really came from. Forwarding headers count only when the peer is a
/// configured trusted proxy, and a forwarded request is never loopback.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr {
    pub ip: Option<IpAddr>,
    pub loopback: bool,
}

impl ClientAddr {
    pub fn resolve(parts: &Parts, trusted: &[IpAddr]) -> ClientAddr {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let Some(peer) = peer else {
            return ClientAddr {
                ip: None,
                loopback: false,
            };
        };
        if trusted.contains(&peer) {
            if let Some(ip) = forwarded_for(&parts.headers, trusted) {
                return ClientAddr {
                    ip: Some(ip),
                    loopback: false,
                };
            }
            let forwarded = parts.headers.contains_key("x-forwarded-for")
                || parts.headers.contains_key("forwarded");
            if forwarded {
                // Forwarded, but only through our own proxies: still never loopback.
                return ClientAddr {
                    ip: Some(peer),
                    loopback: false,
                };
            }
        }
        ClientAddr {
            ip: Some(peer),
            loopback: peer.is_loopback(),
        }
    }

    pub fn label(&self) -> String {
        self.ip
            .map(|ip| ip.to_string())
            .unwrap_or_else(|| "desconocida".to_string())
    }
}

/// The right-most address in the forwarding chain that is not one of our proxies.
fn forwarded_for(headers: &axum::http::HeaderMap, trusted: &[IpAddr]) -> Option<IpAddr> {
    let mut chain: Vec<IpAddr> = Vec::new();
    for value in headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
    {
        chain.extend(
            value
                .split(',')
                .filter_map(|s| s.trim().parse::<IpAddr>().ok()),
        );
    }
    if chain.is_empty() {
        for value in headers
            .get_all("forwarded")
            .iter()
            .filter_map(|v| v.to_str().ok())
        {
            for part in value.split([',', ';']) {
                if let Some(v) = part
                    .trim()
                    .strip_prefix("for=")
                    .or_else(|| part.trim().strip_prefix("For="))
                {
                    let v = v.trim_matches('"');
                    let v = v
                        .strip_prefix('[')
                        .map(|s| s.split(']').next().unwrap_or(s))
                        .unwrap_or(v);
                    let v = if v.matches(':').count() == 1 {
                        v.split(':').next().unwrap_or(v)
                    } else {
                        v
                    };
                    if let Ok(ip) = v.parse() {
                        chain.push(ip);
                    }
                }
            }
        }
    }
    chain.into_iter().rev().find(|ip| !trusted.contains(ip))
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr::resolve(parts, &state.config.trusted_proxies))
    }
}

/// What a machine endpoint says when it refuses its caller (Spanish, naming its own setting).
#[derive(Debug, Clone, Copy)]
pub struct CallerRefusals {
    /// A token is configured and the request does not carry it.
    pub without_token: &'static str,
    /// No token is configured and the caller is not on this machine.
    pub not_local: &'static str,
}

/// Who may call a machine endpoint (intake, metrics). With `token` configured every caller,
/// loopback included, must send `Authorization: Bearer <token>`; without one only loopback
/// callers may, and a request forwarded by a trusted proxy is never loopback (`ClientAddr`).
/// A refusal is 401 with the endpoint's own message.
pub fn check_caller(
    token: Option<&crate::config::Secret>,
    headers: &axum::http::HeaderMap,
    client: &ClientAddr,
    refusals: &CallerRefusals,
) -> Result<(), AppError> {
    let refuse = |message: &str| {
        AppError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "unauthorized",
            message,
        )
    };
    match token {
        Some(token) => match bearer(headers) {
            Some(given) if tokens_match(given, token.expose()) => Ok(()),
            _ => Err(refuse(refusals.without_token)),
        },
        None if client.loopback => Ok(()),
        None => Err(refuse(refusals.not_local)),
    }
}

/// Reads the body, turning an oversized one into 413 in the request's format.
async fn body_bytes(req: Request, state: &AppState) -> Result<(Parts, Bytes), Response> {
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, state.config.max_body_bytes).await {
        Ok(b) => Ok((parts, b)),
        Err(_) => Err(respond(&parts, AppError::too_large())),
    }
}

/// A JSON body with errors in the API's shape and Spanish.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, bytes) = body_bytes(req, state).await?;
        parse_json(&bytes)
            .map(ApiJson)
            .map_err(|e| respond(&parts, e))
    }
}

/// Parses JSON, telling bad syntax (400) from a missing or mistyped field (422), in Spanish.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => {
                let text = e.to_string();
                let message = match text.split('`').nth(1) {
                    Some(field) if text.starts_with("missing field") => {
                        format!("Falta el campo «{field}».")
                    }
                    Some(field) if text.starts_with("unknown field") => {
                        format!("El campo «{field}» no se reconoce.")
                    }
                    _ => "Un campo tiene un tipo o valor incorrecto.".to_string(),
                };
                AppError::new(
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    "validation",
                    message,
                )
            }
            _ => AppError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "invalid_json",
                "El cuerpo de la solicitud no es JSON válido.",
            ),
        }
    })
}

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf_token: String,
}

/// A form from a signed-in user whose `csrf_token` matches their session's.
pub struct CsrfForm<T> {
    pub session: Session,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, bytes) = body_bytes(req, state).await?;
        let Auth::Session(session) = auth_of(&parts) else {
            return Err(Redirect::to("/login").into_response());
        };
        let field: CsrfField = serde_urlencoded::from_bytes(&bytes).map_err(|_| {
            respond(
                &parts,
                AppError::bad_request("El formulario llegó incompleto."),
            )
        })?;
        if !tokens_match(&field.csrf_token, &session.csrf_token) {
            return Err(respond(&parts, AppError::csrf()));
        }
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|_| {
            respond(
                &parts,
                AppError::bad_request("El formulario llegó incompleto o con datos no válidos."),
            )
        })?;
        Ok(CsrfForm { session, form })
    }
}

/// A form sent before signing in (the sign-in form itself), checked against the
/// double-submit cookie set when the form was shown.
pub struct LoginForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for LoginForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, bytes) = body_bytes(req, state).await?;
        let field: CsrfField = serde_urlencoded::from_bytes(&bytes).map_err(|_| {
            respond(
                &parts,
                AppError::bad_request("El formulario llegó incompleto."),
            )
        })?;
        let expected = cookie(&parts.headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
        if expected.is_empty() || !tokens_match(&field.csrf_token, &expected) {
            return Err(respond(&parts, AppError::csrf()));
        }
        serde_urlencoded::from_bytes(&bytes)
            .map(LoginForm)
            .map_err(|_| {
                respond(
                    &parts,
                    AppError::bad_request("El formulario llegó incompleto."),
                )
            })
    }
}

pub fn tokens_match(given: &str, expected: &str) -> bool {
    !expected.is_empty()
        && given.len() == expected.len()
        && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// The raw body, with an oversized one refused as 413 in the request's format.
pub struct RawBody(pub Bytes);

impl FromRequest<AppState> for RawBody {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (_, bytes) = body_bytes(req, state).await?;
        Ok(RawBody(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use axum::http::StatusCode;

    const REFUSALS: CallerRefusals = CallerRefusals {
        without_token: "sin token",
        not_local: "no es local",
    };

    /// A request from `peer` with these headers, as the caller check sees it.
    fn caller(peer: &str, headers: &[(&str, &str)], trusted: &[&str]) -> (Parts, ClientAddr) {
        let mut request = axum::http::Request::builder();
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let (mut parts, ()) = request.body(()).unwrap().into_parts();
        let peer = SocketAddr::new(peer.parse().unwrap(), 40000);
        parts.extensions.insert(ConnectInfo(peer));
        let trusted: Vec<IpAddr> = trusted.iter().map(|t| t.parse().unwrap()).collect();
        let client = ClientAddr::resolve(&parts, &trusted);
        (parts, client)
    }

    fn check(token: Option<&str>, peer: &str, headers: &[(&str, &str)]) -> Result<(), String> {
        let token = token.map(Secret::new);
        let (parts, client) = caller(peer, headers, &["127.0.0.1"]);
        check_caller(token.as_ref(), &parts.headers, &client, &REFUSALS).map_err(|e| {
            assert_eq!(e.status, StatusCode::UNAUTHORIZED);
            e.message
        })
    }

    #[test]
    fn without_a_token_only_loopback_callers_pass() {
        assert_eq!(check(None, "127.0.0.1", &[]), Ok(()));
        assert_eq!(check(None, "::1", &[]), Ok(()));
        assert_eq!(
            check(None, "127.0.0.1", &[("authorization", "Bearer cualquiera")]),
            Ok(())
        );
        assert_eq!(check(None, "203.0.113.9", &[]), Err("no es local".into()));
        // Through the trusted proxy on loopback, whoever it forwards is not loopback.
        for forwarded in [
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-for", "127.0.0.1"),
            ("forwarded", "for=127.0.0.1"),
        ] {
            assert_eq!(
                check(None, "127.0.0.1", &[forwarded]),
                Err("no es local".into()),
                "{forwarded:?}"
            );
        }
    }

    #[test]
    fn with_a_token_every_caller_needs_it() {
        let token = Some("t0ken-de-prueba");
        for peer in ["127.0.0.1", "203.0.113.9"] {
            assert_eq!(check(token, peer, &[]), Err("sin token".into()), "{peer}");
            for wrong in [
                "Bearer otro",
                "Bearer ",
                "Basic t0ken-de-prueba",
                "t0ken-de-prueba",
            ] {
                assert_eq!(
                    check(token, peer, &[("authorization", wrong)]),
                    Err("sin token".into()),
                    "{peer} {wrong}"
                );
            }
            assert_eq!(
                check(token, peer, &[("authorization", "Bearer t0ken-de-prueba")]),
                Ok(()),
                "{peer}"
            );
        }
        assert_eq!(
            check(
                token,
                "127.0.0.1",
                &[
                    ("x-forwarded-for", "203.0.113.9"),
                    ("authorization", "Bearer t0ken-de-prueba")
                ]
            ),
            Ok(())
        );
    }
}
