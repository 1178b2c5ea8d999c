//! Errors at the HTTP edge and their two renderers: a Spanish HTML page that shows the
//! request id, and the JSON `{"error": {"code", "message"}}`. Internals are logged, never sent.
//! The error page's template is here too, so rendering an error needs nothing from `pages`
//! (which use this module).

use super::chrome::Chrome;
use crate::domain::DomainError;
use crate::service;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

tokio::task_local! {
    /// The id of the request being served (set by the request-id middleware).
    pub static REQUEST_ID: String;
    /// The layout of the signed-in session being served (set by the auth middleware), so an
    /// error page keeps the person's menu.
    pub static MENU: Option<Chrome>;
}

pub fn request_id() -> String {
    REQUEST_ID.try_with(|id| id.clone()).unwrap_or_default()
}

/// An error with what the client may know about it.
#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// The field a validation message belongs to.
    pub field: Option<&'static str>,
}

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> AppError {
        AppError {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn not_found() -> AppError {
        AppError::from(service::Error::Domain(DomainError::NotFound))
    }

    pub fn internal() -> AppError {
        AppError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Ocurrió un error interno. Intente de nuevo; si persiste, informe el código de solicitud.",
        )
    }

    pub fn bad_request(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn too_large() -> AppError {
        AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "La solicitud es demasiado grande.",
        )
    }

    pub fn unauthorized() -> AppError {
        AppError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Inicie sesión o envíe un token válido en Authorization: Bearer.",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn csrf() -> AppError {
        AppError::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "El formulario caducó o no proviene de esta aplicación. Recargue la página e intente de nuevo.",
        )
    }
}

impl From<service::Error> for AppError {
    fn from(e: service::Error) -> AppError {
        use service::Error as E;
        match e {
            E::Domain(d) => {
                let status = match &d {
                    DomainError::NotFound => StatusCode::NOT_FOUND,
                    DomainError::Forbidden(_) => StatusCode::FORBIDDEN,
                    DomainError::InvalidTransition(_) | DomainError::Conflict => {
                        StatusCode::CONFLICT
                    }
                    DomainError::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                };
                let field = match &d {
                    DomainError::Validation { field, .. } => Some(*field),
                    _ => None,
                };
                AppError {
                    status,
                    code: d.code(),
                    message: d.message(),
                    field,
                }
            }
            E::BadCredentials => AppError::new(
                StatusCode::UNAUTHORIZED,
                "bad_credentials",
                "Correo o contraseña incorrectos.",
            ),
            E::Throttled => AppError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "Demasiados intentos fallidos. Espere 15 minutos antes de volver a intentarlo.",
            ),
            E::PasswordChangeRequired => AppError::new(
                StatusCode::FORBIDDEN,
                "password_change_required",
                "Debe cambiar su contraseña antes de continuar.",
            ),
            E::WrongRole => AppError::new(
                StatusCode::FORBIDDEN,
                "wrong_role",
                "Esta cuenta no corresponde a este acceso. Ingrese por la página de su rol o por /login.",
            ),
            E::Storage(err) => {
                tracing::error!(error = %err, "storage failure");
                AppError::internal()
            }
            E::Internal(err) => {
                tracing::error!(error = %err, "internal failure");
                AppError::internal()
            }
        }
    }
}

impl From<service::connect::ConnectError> for AppError {
    fn from(e: service::connect::ConnectError) -> AppError {
        use service::connect::{ConnectError, ProblemKind};
        match e {
            ConnectError::Service(e) => AppError::from(e),
            ConnectError::Problem(p) => {
                let status = match p.kind {
                    ProblemKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
                    ProblemKind::Unauthorized => StatusCode::UNAUTHORIZED,
                    ProblemKind::Forbidden => StatusCode::FORBIDDEN,
                    ProblemKind::NotFound => StatusCode::NOT_FOUND,
                    ProblemKind::Conflict => StatusCode::CONFLICT,
                    ProblemKind::Throttled => StatusCode::TOO_MANY_REQUESTS,
                    ProblemKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                };
                // Field checks answer like every other validation error of the API.
                const FIELDS: [&str; 8] = [
                    "kind",
                    "name",
                    "url",
                    "secret",
                    "events",
                    "bot_token",
                    "owner",
                    "chat_id",
                ];
                match FIELDS.iter().find(|f| **f == p.code) {
                    Some(field) if p.kind == ProblemKind::Invalid => AppError {
                        status,
                        code: "validation",
                        message: p.message,
                        field: Some(field),
                    },
                    _ => AppError::new(status, p.code, p.message),
                }
            }
        }
    }
}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> AppError {
        AppError::from(service::Error::Domain(e))
    }
}

/// Renders as JSON.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> ApiError {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let mut body = json!({"error": {"code": e.code, "message": e.message}});
        if let Some(field) = e.field {
            body["error"]["field"] = json!(field);
        }
        if e.status.is_server_error() {
            body["error"]["request_id"] = json!(request_id());
        }
        (e.status, axum::Json(body)).into_response()
    }
}

/// The error page (`templates/error.html`): the layout with the signed-in person's menu
/// (from `MENU`), or none for anyone else.
#[derive(askama::Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub chrome: Chrome,
    pub title: &'static str,
    pub message: String,
    pub request_id: String,
}

/// Renders as a Spanish HTML page.
#[derive(Debug)]
pub struct PageError(pub AppError);

impl<E: Into<AppError>> From<E> for PageError {
    fn from(e: E) -> PageError {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let e = self.0;
        let page = ErrorPage {
            title: match e.status {
                StatusCode::NOT_FOUND => "No encontrado",
                StatusCode::FORBIDDEN => "Acceso denegado",
                StatusCode::CONFLICT => "La incidencia cambió",
                StatusCode::TOO_MANY_REQUESTS => "Demasiados intentos",
                StatusCode::PAYLOAD_TOO_LARGE => "Solicitud demasiado grande",
                StatusCode::UNAUTHORIZED => "No se pudo ingresar",
                StatusCode::SERVICE_UNAVAILABLE => "Servicio no disponible",
                StatusCode::METHOD_NOT_ALLOWED => "Esta dirección es de un formulario",
                s if s.is_server_error() => "Error interno",
                _ => "Solicitud no válida",
            },
            message: e.message,
            request_id: request_id(),
            chrome: MENU
                .try_with(|m| m.clone())
                .ok()
                .flatten()
                .unwrap_or_default(),
        };
        let html = askama::Template::render(&page).unwrap_or_else(|_| "Error".to_string());
        (e.status, axum::response::Html(html)).into_response()
    }
}

/// Whether a request expects JSON back (API paths, intake, or an explicit Accept).
pub fn wants_json(parts: &axum::http::request::Parts) -> bool {
    let path = parts.uri.path();
    if path.starts_with("/api/") || path.starts_with("/intake/") {
        return true;
    }
    let accept = parts
        .headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    accept.contains("application/json") && !accept.contains("text/html")
}

/// An error in the format the request expects.
pub fn respond(parts: &axum::http::request::Parts, e: AppError) -> Response {
    if wants_json(parts) {
        ApiError(e).into_response()
    } else {
        PageError(e).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_errors_never_leak_their_cause() {
        let e = AppError::from(service::Error::Internal("password=hunter2".into()));
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.message.contains("hunter2"));
    }

    #[test]
    fn domain_errors_map_to_statuses() {
        assert_eq!(
            AppError::from(DomainError::Conflict).status,
            StatusCode::CONFLICT
        );
        assert_eq!(
            AppError::from(DomainError::NotFound).status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            AppError::from(DomainError::validation("x", "y")).status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
}
