//! soporte: an IT help-desk. Support e-mails become tickets, a dispatcher hands each to a
//! technician, and everyone sees the timeline and how long each step took.

/// Chat notices' background jobs: the timeline feed and the sender (leases in the database).
pub mod chat;
/// Command-line sub-commands, each a thin caller of `service`.
pub mod cli;
/// Typed configuration from flags and environment; secrets redacted.
pub mod config;
/// CPU-heavy work off the request threads.
pub mod cpu;
/// Pure rules: ids, users, the ticket state machine, timeline, access, metrics, Lima time.
pub mod domain;
/// The mail channel: MIME parsing, the IMAP poller and the SMTP outbox sender.
pub mod mail;
/// Use cases, each owning its transaction.
pub mod service;
/// The only SQL: one layer over SQLite and PostgreSQL.
pub mod storage;
/// HTTP: the route table, extractors, sessions, CSRF, HTML pages and the JSON API.
pub mod web;
