//! Integration tests: the real application on port 0, a fresh SQLite file per test, spoken to
//! over HTTP with the requests providers really send.

mod abuse;
mod admin_pages;
mod admin_security;
mod allocation;
mod alternates;
mod bookings;
mod bridging;
mod calls;
mod cli;
#[path = "../common/mod.rs"]
mod common;
mod default_deployment;
mod eight_by_eight;
mod events;
mod exotel;
mod faults;
mod greetings;
mod health;
mod helpers;
mod hostile;
mod metrics;
mod number_health;
mod one_way;
mod openapi;
mod orders;
mod outage;
mod outbound;
mod party_pins;
mod plivo;
mod privilege;
mod reconcile;
mod scenarios;
mod strangers;
mod strangers_webhook;
mod template_limits;
mod trusted_callers;
mod twilio;
mod voices;
mod vonage;
