//! The JSON API under `/api/v1`, described by `/api/openapi.json`.

pub mod dashboard;
pub mod openapi;
pub mod sla;
pub mod tickets;
pub mod webhooks;
