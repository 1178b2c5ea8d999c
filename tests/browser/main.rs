//! The real-browser test binary: Debian's Chromium, driven through chromedriver (WebDriver),
//! walks each role's day against the real server on 127.0.0.1, checks the layout at 1280 px
//! and 375 px (writing screenshots), and checks accessibility (labels, keyboard, axe-core).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod app;
mod harness;
#[path = "../it/idp.rs"]
#[allow(dead_code)]
mod idp;
mod pages;

mod accessibility;
mod company;
mod conversation;
mod dashboard;
mod journeys;
mod layout;
mod queue;
mod sign_in;
mod sla;
mod ticketpage;
