//! Application wiring: builds the database, the state and the server from the settings, and
//! runs them (`startup`). Above every other module: nothing imports it but `main.rs`.

pub mod routes;
pub mod startup;
