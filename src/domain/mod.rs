//! The rules of the help-desk, free of I/O: no axum, sqlx, askama or tokio here.
//! Everything else asks this layer what a ticket may become and who may see it.

pub mod access;
pub mod classification;
pub mod error;
pub mod figures;
pub mod identity;
pub mod ids;
pub mod mail;
pub mod mailbox;
pub mod metrics;
pub mod notify;
pub mod oauth;
pub mod oidc;
pub mod projection;
pub mod queue;
pub mod search;
pub mod secrets;
pub mod sla;
pub mod ticket;
pub mod time;
pub mod timeline;
pub mod totp;
pub mod user;

pub use error::DomainError;
