//! eight_by_eight: filled in by its adapter's author.

use crate::helpers::TestApp;
use crate::scenarios::{Leg, Reply};

pub async fn start(_app: &TestApp, _leg: &Leg) -> Reply {
    unimplemented!("eight_by_eight driver")
}

pub async fn digits(_app: &TestApp, _leg: &Leg, _digits: &str) -> Reply {
    unimplemented!("eight_by_eight driver")
}

pub async fn answered(_app: &TestApp, _leg: &Leg) {
    unimplemented!("eight_by_eight driver")
}

pub fn record_sid(leg: &Leg) -> String {
    leg.sid.clone()
}
