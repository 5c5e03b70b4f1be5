//! What every request handler is given: the application's state, shared by all workers.
//! Built once at start by [`crate::app::startup`]; handlers read it, never build it.

use crate::call::ConnectOptions;
use crate::call::session::Sessions;
use crate::config::Settings;
use crate::domain::{OrderRules, Region};
use crate::storage::Db;

/// Everything a request handler needs, shared by all workers.
pub struct AppState {
    pub db: Db,
    pub settings: Settings,
    pub region: Region,
    pub rules: OrderRules,
    pub sessions: Sessions,
    /// The operators' greetings, in memory.
    pub greetings: std::sync::Arc<crate::call::greetings::Greetings>,
    /// The admin tokens, as SHA-256 digests; the tokens themselves are not kept.
    pub admin_tokens: Vec<AdminToken>,
    /// Failed admin authentications per source address (10 a minute, then 429).
    pub auth_failures: governor::DefaultKeyedRateLimiter<std::net::IpAddr>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Networks Exotel and 8x8 webhooks may come from; `None`: any.
    pub allowed_source_networks: Option<Vec<ipnet::IpNet>>,
    /// The secret path segment of the Exotel URLs.
    pub exotel_secret: String,
    /// The secret path segment of the 8x8 URLs (`PINBRIDGE_8X8_SECRET`); empty while 8x8 is
    /// off, when its routes do not exist.
    pub eight_by_eight_secret: String,
    /// Which providers are on, and how each is authenticated ([`Settings::providers`]).
    pub providers: crate::config::Providers,
    pub connect: ConnectOptions,
    /// The call path's writes and call steps, applied in batches ([`crate::storage::writer`]).
    pub writer: crate::storage::writer::Writer,
    /// Call ends waiting for an unreachable database.
    pub pending_ends: std::sync::Arc<crate::call::pending::PendingEnds>,
    /// Calls (by [`crate::call::session::Inbound::key`]) this instance bridged to the fallback
    /// number, so that their end is recorded as such; kept for a day.
    pub fallback_bridged: moka::sync::Cache<String, ()>,
    /// `PINBRIDGE_FALLBACK_NUMBER`: dialled when storage fails mid-call.
    pub fallback_number: Option<crate::domain::PhoneNumber>,
    /// The public base URL providers reach this server at, without a trailing slash: the base
    /// of the URLs put in provider answers and of the URLs signatures are checked against.
    pub public_url: String,
    /// Exotel's REST API (click-to-call, SMS); `None` while `PINBRIDGE_EXOTEL_API_KEY`,
    /// `_API_TOKEN` or `_ACCOUNT_SID` is unset.
    pub exotel_api: Option<std::sync::Arc<crate::outbound::exotel_api::ExotelApi>>,
    /// The SMS after unanswered calls; `None` while off (see [`crate::outbound::sms::missing_settings`]).
    pub sms: Option<std::sync::Arc<crate::outbound::sms::UnansweredSms>>,
    /// Event webhooks to `PINBRIDGE_EVENTS_URL` (a no-op while it is unset).
    pub events: crate::outbound::events::Events,
}

/// One admin token as kept in memory: its name, SHA-256, and whether it may see full numbers.
#[derive(Debug, Clone)]
pub struct AdminToken {
    pub name: String,
    pub sha256: [u8; 32],
    pub pii: bool,
}

impl AppState {
    /// The prompts of a call to `dialled` (the dialled number as the provider sent it, read
    /// in the default region): its language's greetings, else the default language's.
    pub async fn voice_for(&self, dialled: Option<&str>) -> crate::call::prompts::Voice {
        let number = dialled
            .and_then(|d| crate::domain::PhoneNumber::parse(d, self.region).ok())
            .map(|n| n.to_string());
        self.greetings.voice(number.as_deref()).await
    }
}
