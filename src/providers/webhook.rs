//! What the providers' edges share before a call step runs: refusing a request from outside
//! the allowed networks, and accepting a signed request's one-time token once. The step itself
//! (identifying the call, the time budget, the fallback) is the call session's
//! ([`crate::call::session::Sessions::answer`]).

use crate::state::AppState;

/// What became of a signed request's one-time token (Plivo's V3 nonce, Vonage's `jti`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUse {
    /// No request carried it before: the request may go on.
    First,
    /// A request carried it before: refuse this one (403).
    Replayed,
    /// Storage could not record it: no flow step may run on it (a replay can not be told
    /// apart), so the request gets the answer of a storage failure
    /// ([`crate::call::session::Sessions::unavailable`]).
    Unrecorded,
}

/// Records `token`, a one-time token of `provider`'s signed request, as used until `until`
/// (unix ms): each is accepted once, by every instance ([`crate::storage::seen`]). Never logs
/// the token.
pub async fn token_use(
    state: &AppState,
    provider: &'static str,
    token: &str,
    until: i64,
) -> TokenUse {
    let now = crate::domain::clock::now_ms();
    let claim = state
        .writer
        .claim_token(provider, token.to_owned(), until, now);
    // A quarter of the step's budget: the step that follows has a budget of its own, and the
    // provider's answer must stay within both.
    match tokio::time::timeout(state.settings.calls.webhook_timeout / 4, claim).await {
        Ok(Ok(true)) => TokenUse::First,
        Ok(Ok(false)) => {
            crate::metrics::replay_refused(provider);
            tracing::warn!(
                provider,
                "refused a replayed request: its one-time token was used before"
            );
            TokenUse::Replayed
        }
        Ok(Err(e)) => {
            crate::metrics::database_error(e.is_unavailable());
            tracing::error!(provider, error = %e, "a request's one-time token could not be recorded; answering the safe fallback");
            TokenUse::Unrecorded
        }
        Err(_) => {
            tracing::error!(
                provider,
                "recording a request's one-time token took too long; answering the safe fallback"
            );
            TokenUse::Unrecorded
        }
    }
}

/// 403 when `PINBRIDGE_ALLOWED_SOURCE_NETWORKS` is set and the request's client (the peer,
/// or `X-Forwarded-For` behind a trusted proxy) is outside it. Used by the providers that sign
/// nothing (Exotel, 8x8; `reference/exotel.md` §5).
pub fn source_refusal(
    state: &AppState,
    req: &actix_web::HttpRequest,
) -> Option<actix_web::HttpResponse> {
    if crate::http::source::source_allowed(
        req,
        state.settings.access.allowed_source_networks.as_deref(),
        &state.settings.access.trusted_proxies,
    ) {
        return None;
    }
    tracing::warn!("refused a webhook from outside PINBRIDGE_ALLOWED_SOURCE_NETWORKS");
    Some(
        actix_web::HttpResponse::Forbidden()
            .content_type("text/plain")
            .body("source not allowed"),
    )
}
