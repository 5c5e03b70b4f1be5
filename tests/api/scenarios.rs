//! One scenario table run against all five providers: each provider's driver sends the
//! requests that provider really sends (signed as it signs them) and parses its answers
//! (XML or JSON) into a provider-neutral [`Reply`].

use pinbridge::config::Signing;
use serde_json::{Value, json};

use crate::common::{ADMIN_TOKEN, TestApp, spawn_app_with};

/// The virtual number of every scenario, E.164.
pub const VN: &str = "+917314853246";
pub const CUSTOMER: &str = "+919812345678";
pub const COURIER: &str = "+917709562799";

pub const TWILIO_TOKEN: &str = "test-twilio-auth-token";
pub const PLIVO_TOKEN: &str = "test-plivo-auth-token";
pub const EIGHT_BY_EIGHT_SECRET: &str = "test-8x8-secret-0123456789";
pub const VONAGE_SECRET: &str = "test-vonage-signature-secret-0123456789";
/// The public URL providers are configured with; signatures are computed over it, never over
/// the address the test connects to.
pub const PUBLIC_URL: &str = "https://masking.example.com";

/// One leg of a call as a provider reports it: its call id, caller and dialled number (E.164;
/// each driver writes them the way its provider does).
#[derive(Debug, Clone)]
pub struct Leg {
    pub sid: String,
    pub from: String,
    pub to: String,
}

impl Leg {
    pub fn new(sid: &str, from: &str) -> Self {
        Self {
            sid: sid.into(),
            from: from.into(),
            to: VN.into(),
        }
    }
}

/// What a provider was told to do, whatever its wire format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Speak `text` and collect digits.
    Ask { text: String },
    /// Dial `to` (E.164) showing `caller_id` (E.164).
    Dial { to: String, caller_id: String },
    /// Speak `text` and hang up, or dial no one.
    Goodbye { text: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Exotel,
    Twilio,
    Plivo,
    EightByEight,
    Vonage,
}

pub const ALL: [Provider; 5] = [
    Provider::Exotel,
    Provider::Twilio,
    Provider::Plivo,
    Provider::EightByEight,
    Provider::Vonage,
];

/// The providers the scenarios run on: all five, or those named in `SCENARIO_PROVIDERS`
/// (comma-separated names, e.g. `plivo,8x8`) to work on one adapter.
///
/// Panics when `SCENARIO_PROVIDERS` is set but selects no provider ([`select`]): a misspelt
/// name would otherwise run every scenario on nothing, and pass.
pub fn providers() -> Vec<Provider> {
    match std::env::var("SCENARIO_PROVIDERS") {
        Ok(names) => select(&names).unwrap_or_else(|e| panic!("SCENARIO_PROVIDERS {e}")),
        Err(std::env::VarError::NotPresent) => ALL.to_vec(),
        Err(std::env::VarError::NotUnicode(_)) => {
            panic!("SCENARIO_PROVIDERS is not UTF-8; {}", known_providers())
        }
    }
}

/// The providers `names` names (comma-separated, spelt as [`Provider::name`], in any case),
/// each once, in the order given.
///
/// Errors: a name that is no provider's, or no name at all; the message names the known
/// providers.
pub fn select(names: &str) -> Result<Vec<Provider>, String> {
    let mut chosen = Vec::new();
    for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let provider = ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                format!(
                    "names {name:?}, which is no provider; {}",
                    known_providers()
                )
            })?;
        if !chosen.contains(&provider) {
            chosen.push(provider);
        }
    }
    if chosen.is_empty() {
        return Err(format!("names no provider; {}", known_providers()));
    }
    Ok(chosen)
}

fn known_providers() -> String {
    let names: Vec<&str> = ALL.iter().map(|p| p.name()).collect();
    format!("the known providers are {}", names.join(", "))
}

#[test]
fn scenario_providers_select_the_providers_they_name_in_any_case() {
    assert_eq!(
        select("plivo, 8X8,plivo").unwrap(),
        [Provider::Plivo, Provider::EightByEight]
    );
    assert_eq!(select("exotel").unwrap(), [Provider::Exotel]);
}

#[test]
fn scenario_providers_naming_an_unknown_provider_or_none_is_an_error_naming_the_known_ones() {
    let known = "the known providers are exotel, twilio, plivo, 8x8, vonage";
    for (names, says) in [
        ("plivo,8x9", "names \"8x9\", which is no provider"),
        ("twillio", "names \"twillio\", which is no provider"),
        ("", "names no provider"),
        (" , ", "names no provider"),
    ] {
        let e = select(names).unwrap_err();
        assert_eq!(e, format!("{says}; {known}"), "{names:?}");
    }
}

impl Provider {
    /// The call comes in.
    pub async fn start(self, app: &TestApp, leg: &Leg) -> Reply {
        match self {
            Self::Exotel => exotel::start(app, leg).await,
            Self::Twilio => crate::twilio::start(app, leg).await,
            Self::Plivo => crate::plivo::start(app, leg).await,
            Self::EightByEight => crate::eight_by_eight::start(app, leg).await,
            Self::Vonage => crate::vonage::start(app, leg).await,
        }
    }

    /// The caller keys `digits` (then `#`) at the prompt.
    pub async fn digits(self, app: &TestApp, leg: &Leg, digits: &str) -> Reply {
        match self {
            Self::Exotel => exotel::digits(app, leg, digits).await,
            Self::Twilio => crate::twilio::digits(app, leg, digits).await,
            Self::Plivo => crate::plivo::digits(app, leg, digits).await,
            Self::EightByEight => crate::eight_by_eight::digits(app, leg, digits).await,
            Self::Vonage => crate::vonage::digits(app, leg, digits).await,
        }
    }

    /// The provider reports that the dialled party answered and talked for 31 s, and the
    /// call ended.
    pub async fn answered(self, app: &TestApp, leg: &Leg) {
        match self {
            Self::Exotel => exotel::answered(app, leg).await,
            Self::Twilio => crate::twilio::answered(app, leg).await,
            Self::Plivo => crate::plivo::answered(app, leg).await,
            Self::EightByEight => crate::eight_by_eight::answered(app, leg).await,
            Self::Vonage => crate::vonage::answered(app, leg).await,
        }
    }

    /// The provider's name in call records.
    pub fn name(self) -> &'static str {
        match self {
            Self::Exotel => "exotel",
            Self::Twilio => "twilio",
            Self::Plivo => "plivo",
            Self::EightByEight => "8x8",
            Self::Vonage => "vonage",
        }
    }

    /// The call id the call log shows for `leg` (8x8 keys calls by session, Vonage by
    /// conversation; the drivers derive those from `leg.sid`).
    pub fn record_sid(self, leg: &Leg) -> String {
        match self {
            Self::EightByEight => crate::eight_by_eight::record_sid(leg),
            Self::Vonage => crate::vonage::record_sid(leg),
            _ => leg.sid.clone(),
        }
    }
}

/// The application with every provider's signature checking on.
pub async fn spawn() -> TestApp {
    spawn_app_with(|s| {
        s.orders.pin_min = 4;
        s.server.public_url = Some(PUBLIC_URL.into());
        s.providers.twilio = Signing::Signed(TWILIO_TOKEN.into());
        s.providers.plivo = Signing::Signed(PLIVO_TOKEN.into());
        s.providers.eight_by_eight_secret = Some(EIGHT_BY_EIGHT_SECRET.into());
        s.providers.vonage = Signing::Signed(VONAGE_SECRET.into());
    })
    .await
}

pub async fn order(app: &TestApp, id: &str, pin: &str) {
    let r = app
        .post_order(
            json!({"order_id": id, "customer_number": CUSTOMER, "pin": pin, "virtual_number": VN}),
        )
        .await;
    assert_eq!(r.status(), 201);
}

fn is_ask(reply: &Reply, contains: &str) -> bool {
    matches!(reply, Reply::Ask { text } if text.contains(contains))
}

#[tokio::test]
async fn a_wrong_pin_then_the_right_one_bridges_on_every_provider() {
    for p in providers() {
        let app = spawn().await;
        order(&app, "OD-1", "4821").await;
        let leg = Leg::new("pin-call-1", COURIER);
        let first = p.start(&app, &leg).await;
        assert!(is_ask(&first, "enter your order PIN"), "{p:?}: {first:?}");
        assert!(
            is_ask(&first, "Swift Couriers"),
            "{p:?} welcomes first: {first:?}"
        );
        let again = p.digits(&app, &leg, "1111").await;
        assert!(is_ask(&again, "not recognised"), "{p:?}: {again:?}");
        let bridge = p.digits(&app, &leg, "4821").await;
        assert_eq!(
            bridge,
            Reply::Dial {
                to: CUSTOMER.into(),
                caller_id: VN.into()
            },
            "{p:?}"
        );
        let (_, log) = app
            .get_json(&format!("/calls?call_sid={}", p.record_sid(&leg)))
            .await;
        let record = &log["calls"][0];
        assert_eq!(record["provider"], p.name(), "{p:?}");
        assert_eq!(record["route"], "pin", "{p:?}");
        assert_eq!(record["pin_attempts"], 2, "{p:?}");
        assert_eq!(record["destination"], CUSTOMER, "{p:?}");
    }
}

#[tokio::test]
async fn used_up_attempts_end_in_goodbye_on_every_provider() {
    for p in providers() {
        let app = spawn().await;
        order(&app, "OD-1", "4821").await;
        let leg = Leg::new("used-up-1", COURIER);
        p.start(&app, &leg).await;
        assert!(
            is_ask(&p.digits(&app, &leg, "1111").await, "not recognised"),
            "{p:?}"
        );
        assert!(
            is_ask(&p.digits(&app, &leg, "2222").await, "one attempt left"),
            "{p:?}"
        );
        let last = p.digits(&app, &leg, "3333").await;
        assert!(
            matches!(&last, Reply::Goodbye { text } if text.contains("could not verify your PIN")),
            "{p:?}: {last:?}"
        );
    }
}

async fn book(app: &TestApp, a: &str, b: &str) {
    let r = app
        .client
        .post(app.api("/virtual-numbers"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"number": VN, "provider": "exotel"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = app
        .client
        .post(app.api("/bookings"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"party_a": a, "party_b": b}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn a_booking_call_reaches_the_other_party_both_ways_on_every_provider() {
    for p in providers() {
        let app = spawn().await;
        book(&app, COURIER, CUSTOMER).await;
        let there = p.start(&app, &Leg::new("booking-a", COURIER)).await;
        assert_eq!(
            there,
            Reply::Dial {
                to: CUSTOMER.into(),
                caller_id: VN.into()
            },
            "{p:?}"
        );
        let back = p.start(&app, &Leg::new("booking-b", CUSTOMER)).await;
        assert_eq!(
            back,
            Reply::Dial {
                to: COURIER.into(),
                caller_id: VN.into()
            },
            "{p:?}"
        );
    }
}

#[tokio::test]
async fn the_customer_calling_back_reaches_the_courier_on_every_provider() {
    for p in providers() {
        let app = spawn().await;
        order(&app, "OD-1", "4821").await;
        let courier = Leg::new("courier-call", COURIER);
        p.start(&app, &courier).await;
        p.digits(&app, &courier, "4821").await;
        let callback = p.start(&app, &Leg::new("customer-call", CUSTOMER)).await;
        assert_eq!(
            callback,
            Reply::Dial {
                to: COURIER.into(),
                caller_id: VN.into()
            },
            "{p:?}"
        );
    }
}

#[tokio::test]
async fn a_status_callback_delivered_twice_is_recorded_once_on_every_provider() {
    for p in providers() {
        let app = spawn().await;
        order(&app, "OD-1", "4821").await;
        let leg = Leg::new("status-twice", COURIER);
        p.start(&app, &leg).await;
        p.digits(&app, &leg, "4821").await;
        p.answered(&app, &leg).await;
        p.answered(&app, &leg).await;
        let (_, log) = app
            .get_json(&format!("/calls?call_sid={}", p.record_sid(&leg)))
            .await;
        let calls = log["calls"].as_array().unwrap();
        assert_eq!(calls.len(), 1, "{p:?}");
        assert_eq!(calls[0]["outcome"], "connected", "{p:?}: {:?}", calls[0]);
        assert_eq!(calls[0]["talk_seconds"], 31, "{p:?}");
    }
}

#[tokio::test]
async fn a_pin_request_sent_again_after_the_call_ended_reaches_no_one_on_every_provider() {
    for p in providers() {
        let app = spawn().await;
        order(&app, "OD-1", "4821").await;
        let leg = Leg::new("replay-after-end", COURIER);
        p.start(&app, &leg).await;
        let bridge = p.digits(&app, &leg, "4821").await;
        assert!(matches!(bridge, Reply::Dial { .. }), "{p:?}: {bridge:?}");
        p.answered(&app, &leg).await;
        // The PIN step again, for the ended call (signed anew where the provider's scheme
        // makes each request unique): no one is dialled, no number answered.
        let again = p.digits(&app, &leg, "4821").await;
        assert!(matches!(again, Reply::Goodbye { .. }), "{p:?}: {again:?}");
        let start = p.start(&app, &leg).await;
        assert!(
            !matches!(start, Reply::Dial { .. }),
            "{p:?}: a repeated first request dials no one: {start:?}"
        );
        let (_, log) = app
            .get_json(&format!("/calls?call_sid={}", p.record_sid(&leg)))
            .await;
        assert_eq!(
            log["calls"][0]["outcome"], "connected",
            "{p:?}: the record stands"
        );
    }
}

#[tokio::test]
async fn guesses_from_rotating_caller_ids_spend_the_numbers_budget_on_every_provider() {
    for p in providers() {
        // One active 4-digit PIN: a wrong PIN weighs 100 millionths; this budget's burst holds
        // five of them.
        let app = spawn_app_with(|s| {
            s.orders.pin_min = 4;
            s.server.public_url = Some(PUBLIC_URL.into());
            s.providers.twilio = Signing::Signed(TWILIO_TOKEN.into());
            s.providers.plivo = Signing::Signed(PLIVO_TOKEN.into());
            s.providers.eight_by_eight_secret = Some(EIGHT_BY_EIGHT_SECRET.into());
            s.providers.vonage = Signing::Signed(VONAGE_SECRET.into());
            s.guessing.pin_guessing_budget = 0.012;
        })
        .await;
        order(&app, "OD-1", "4821").await;
        for n in 0..6 {
            // A new caller ID, valid or not, for every guess.
            let from = if n % 2 == 0 {
                format!("+91990000{n:04}")
            } else {
                format!("+0{n}")
            };
            let leg = Leg::new(&format!("guess-{n}"), &from);
            p.start(&app, &leg).await;
            let reply = p.digits(&app, &leg, &format!("{}", 1000 + n)).await;
            assert!(!matches!(reply, Reply::Dial { .. }), "{p:?}: {reply:?}");
        }
        let stranger = Leg::new("stranger-right-pin", "+919812300001");
        p.start(&app, &stranger).await;
        let refused = p.digits(&app, &stranger, "4821").await;
        assert!(
            matches!(&refused, Reply::Goodbye { text } if text.contains("try again later")),
            "{p:?}: {refused:?}"
        );
        app.sql(
            "insert into trusted_callers (number, label, created_at) values ('+917700000077', 'Ravi', 0)",
        )
        .await;
        let trusted = Leg::new("trusted-right-pin", "+917700000077");
        p.start(&app, &trusted).await;
        assert_eq!(
            p.digits(&app, &trusted, "4821").await,
            Reply::Dial {
                to: CUSTOMER.into(),
                caller_id: VN.into()
            },
            "{p:?}"
        );
    }
}

/// Exotel's flow: Connect (caller-based) first; when it dials no one, Gather; digits go through
/// `check-pin` and then Connect again.
mod exotel {
    use super::*;

    fn query(leg: &Leg, digits: Option<&str>) -> String {
        let national = |n: &str| format!("0{}", &n[3..]);
        let mut pairs = vec![
            ("CallSid", leg.sid.clone()),
            ("CallFrom", national(&leg.from)),
            ("CallTo", national(&leg.to)),
            ("From", national(&leg.from)),
            ("To", national(&leg.to)),
            ("Direction", "incoming".into()),
            ("CallType", "call-attempt".into()),
        ];
        if let Some(d) = digits {
            pairs.push(("digits", format!("\"{d}\"")));
        }
        serde_urlencoded::to_string(pairs).unwrap()
    }

    async fn connect_or(app: &TestApp, leg: &Leg, digits: Option<&str>) -> Option<Reply> {
        let c: Value = app.exotel_json("connect.json", &query(leg, digits)).await;
        let numbers = c["destination"]["numbers"].as_array().unwrap();
        numbers.first().map(|to| Reply::Dial {
            to: to.as_str().unwrap().into(),
            caller_id: c["outgoing_phone_number"].as_str().unwrap().into(),
        })
    }

    async fn gather(app: &TestApp, leg: &Leg, greet: bool) -> Reply {
        let mut text = String::new();
        if greet {
            text = app.exotel_text("greeting", &query(leg, None)).await + " ";
        }
        let g: Value = app.exotel_json("gather", &query(leg, None)).await;
        text.push_str(g["gather_prompt"]["text"].as_str().unwrap());
        Reply::Ask { text }
    }

    pub async fn start(app: &TestApp, leg: &Leg) -> Reply {
        match connect_or(app, leg, None).await {
            Some(dial) => dial,
            None => gather(app, leg, true).await,
        }
    }

    pub async fn digits(app: &TestApp, leg: &Leg, digits: &str) -> Reply {
        let status = app
            .exotel("check-pin", &query(leg, Some(digits)))
            .await
            .status();
        if status == 302 {
            return gather(app, leg, false).await;
        }
        assert_eq!(status, 200);
        match connect_or(app, leg, Some(digits)).await {
            Some(dial) => dial,
            None => Reply::Goodbye {
                text: app.exotel_text("goodbye", &query(leg, None)).await,
            },
        }
    }

    pub async fn answered(app: &TestApp, leg: &Leg) {
        let q = format!(
            "{}&DialCallStatus=completed&DialCallDuration=40&Legs%5B0%5D%5BOnCallDuration%5D=31",
            query(leg, None)
        );
        assert_eq!(app.exotel("call-end", &q).await.status(), 200);
    }
}
