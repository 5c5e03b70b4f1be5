//! Application wiring: builds the database, the state and the server from the settings, and
//! runs them (`startup`). Above every other module: nothing imports it but `main.rs`.
//!
//! Owns: start-up, the order things are built and stopped in, the background tasks. Must not
//! touch: request handling or SQL beyond calling what the other modules offer.

pub mod banner;
pub mod routes;
pub mod startup;
