//! The one integration-test binary. Every scenario runs against the real app over real HTTP,
//! on a real SQLite file and on the real PostgreSQL server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;
mod idp;

mod admin;
mod api;
mod architecture;
mod auth;
mod balancer;
mod cli;
mod conversation;
mod demo;
mod instances;
mod intake;
mod ldap;
mod live;
mod mail;
mod mail_oauth;
mod notify;
mod ops;
mod queue;
mod replicas;
mod reports;
mod secrets;
mod sla;
mod sso;
mod ticketpage;
mod tickets;
mod twofactor;
