//! The domain's error: stable snake_case codes with Spanish messages for people.

use thiserror::Error;

/// What can go wrong when a rule is applied. `code()` is stable (clients rely on it) and
/// `message()` is what a person reads, in Spanish.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    /// The thing does not exist, or the actor may not see it: the two are never told apart.
    #[error("not found")]
    NotFound,
    /// The actor sees the ticket but their role may not do this.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// The ticket's state does not allow the command.
    #[error("invalid transition: {0}")]
    InvalidTransition(String),
    /// The ticket changed since the actor loaded it.
    #[error("stale version")]
    Conflict,
    /// A field failed validation.
    #[error("invalid field {field}: {message}")]
    Validation {
        field: &'static str,
        message: String,
    },
}

impl DomainError {
    pub fn validation(field: &'static str, message: impl Into<String>) -> Self {
        DomainError::Validation {
            field,
            message: message.into(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            DomainError::NotFound => "not_found",
            DomainError::Forbidden(_) => "forbidden",
            DomainError::InvalidTransition(_) => "invalid_transition",
            DomainError::Conflict => "conflict",
            DomainError::Validation { .. } => "validation",
        }
    }

    pub fn message(&self) -> String {
        match self {
            DomainError::NotFound => "No se encontró lo que busca.".to_string(),
            DomainError::Forbidden(what) => format!("No tiene permiso para {what}."),
            DomainError::InvalidTransition(msg) => msg.clone(),
            DomainError::Conflict => {
                "Alguien modificó esta incidencia mientras usted la veía. Recargue la página e intente de nuevo."
                    .to_string()
            }
            DomainError::Validation { message, .. } => message.clone(),
        }
    }
}
