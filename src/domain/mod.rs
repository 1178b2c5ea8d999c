//! The rules of the help-desk, free of I/O: no axum, sqlx, askama or tokio here.
//! Everything else asks this layer what a ticket may become and who may see it.

pub mod access;
pub mod classification;
pub mod error;
pub mod figures;
pub mod ids;
pub mod mail;
pub mod metrics;
pub mod projection;
pub mod search;
pub mod sla;
pub mod ticket;
pub mod time;
pub mod timeline;
pub mod user;

pub use error::DomainError;
