//! What every request handler is given: the application's state, shared by all workers.
//! Built once at start by [`crate::app::startup`]; handlers read it, never build it.

use crate::call::session::Sessions;
use crate::config::{AdminToken, Settings};
use crate::storage::Db;

/// Everything a request handler needs, shared by all workers.
pub struct AppState {
    pub db: Db,
    /// The settings, parsed and checked once at start: every setting is read from here.
    pub settings: Settings,
    pub sessions: Sessions,
    /// The operators' greetings, in memory.
    pub greetings: std::sync::Arc<crate::call::greetings::Greetings>,
    /// The admin token generated on the first start and stored (as its SHA-256) in the
    /// database; `None` while the settings name admin tokens of their own.
    pub generated_admin_token: Option<AdminToken>,
    /// Failed admin authentications per source address (10 a minute, then 429).
    pub auth_failures: governor::DefaultKeyedRateLimiter<std::net::IpAddr>,
    /// The secret path segment of the Exotel URLs: `PINBRIDGE_EXOTEL_SECRET`, else the one
    /// generated on the first start and kept in the database.
    pub exotel_secret: String,
    /// The call path's writes and call steps, applied in batches ([`crate::storage::Writer`]).
    pub writer: crate::storage::Writer,
    /// The public base URL providers reach this server at, without a trailing slash: the base
    /// of the URLs put in provider answers and of the URLs signatures are checked against
    /// ([`crate::config::Server::public_base_url`] with the port actually bound).
    pub public_url: String,
    /// Exotel's REST API (click-to-call, SMS); `None` while `PINBRIDGE_EXOTEL_API_KEY`,
    /// `_API_TOKEN` or `_ACCOUNT_SID` is unset.
    pub exotel_api: Option<std::sync::Arc<crate::outbound::exotel_api::ExotelApi>>,
    /// The SMS after unanswered calls; `None` while off (see [`crate::outbound::sms::missing_settings`]).
    pub sms: Option<std::sync::Arc<crate::outbound::sms::UnansweredSms>>,
    /// Event webhooks to `PINBRIDGE_EVENTS_URL` (a no-op while it is unset).
    pub events: crate::outbound::events::Events,
}

impl AppState {
    /// The admin tokens in force: the configured ones (`PINBRIDGE_ADMIN_TOKENS`,
    /// `PINBRIDGE_ADMIN_TOKEN`), else the one generated on the first start.
    pub fn admin_tokens(&self) -> impl Iterator<Item = &AdminToken> {
        self.settings
            .access
            .admin_tokens
            .iter()
            .chain(&self.generated_admin_token)
    }

    /// The prompts of a call to `dialled` (the dialled number as the provider sent it, read
    /// in the default region): its language's greetings, else the default language's.
    pub async fn voice_for(&self, dialled: Option<&str>) -> crate::call::prompts::Voice {
        let number = dialled
            .and_then(|d| crate::domain::PhoneNumber::parse(d, self.settings.orders.region).ok())
            .map(|n| n.to_string());
        self.greetings.voice(number.as_deref()).await
    }
}
