//! The mail channel's transports: `parse` (raw bytes → `domain::mail::InboundMail`, pure),
//! `poller` (IMAP mailbox → `service`, one instance at a time by a lease in the database) and
//! `outbound` (the outbox → SMTP, with retry and backoff). Decisions are `domain::mail`'s,
//! transactions `service::mail`'s; nothing here writes SQL.

pub mod outbound;
pub mod parse;
