//! What every response of the admin web UI carries so that a browser confines its pages: a
//! Content-Security-Policy, no framing, no referrer, no content sniffing; and the stylesheet
//! the policy allows in place of inline style.
//!
//! The pages work without JavaScript and draw their charts as inline SVG with presentation
//! attributes, so the policy allows no script and no inline style at all. The only thing
//! loaded from elsewhere is the audio of a greeting being previewed, which operators give as
//! an https URL.

use std::sync::LazyLock;

use actix_web::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, ETAG, IF_NONE_MATCH, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

/// The `Content-Security-Policy` of every admin response: resources from pinbridge only, no
/// script, no plugin, no `<base>`, forms posted to pinbridge only, and no page may frame the
/// UI (clickjacking of its buttons). `media-src https:` lets the greeting preview play an
/// audio file from the operator's own host.
pub const POLICY: &str = "default-src 'self'; script-src 'none'; object-src 'none'; \
     media-src 'self' https:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The middleware that adds the security headers to every response of the admin scope:
/// [`POLICY`], `X-Frame-Options: DENY` (browsers without `frame-ancestors`),
/// `Referrer-Policy: no-referrer` (page URLs carry searched numbers and order ids) and
/// `X-Content-Type-Options: nosniff`.
pub fn headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((CONTENT_SECURITY_POLICY, POLICY))
        .add((X_FRAME_OPTIONS, "DENY"))
        .add((REFERRER_POLICY, "no-referrer"))
        .add((X_CONTENT_TYPE_OPTIONS, "nosniff"))
}

/// The admin UI's stylesheet (`static/admin.css`), part of the binary.
const STYLESHEET: &str = include_str!("../../../static/admin.css");

/// The stylesheet's entity tag: a digest of its content, so that a browser revalidates it
/// cheaply and a new version is fetched at once.
static STYLESHEET_ETAG: LazyLock<String> =
    LazyLock::new(|| format!("\"{}\"", hex::encode(&Sha256::digest(STYLESHEET)[..8])));

/// `GET /admin/static/admin.css`: the stylesheet, or 304 when the browser holds this version.
pub async fn stylesheet(req: HttpRequest) -> HttpResponse {
    let etag = STYLESHEET_ETAG.as_str();
    let fresh = req
        .headers()
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((ETAG, etag))
        .insert_header((CACHE_CONTROL, "no-cache"));
    if fresh {
        response.finish()
    } else {
        response
            .content_type("text/css; charset=utf-8")
            .body(STYLESHEET)
    }
}
