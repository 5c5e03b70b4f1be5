//! Where a request comes from: the client address, believed from `X-Forwarded-For` only when
//! the connection comes from a trusted proxy (`PINBRIDGE_TRUSTED_PROXIES`), and the check of
//! webhook sources against `PINBRIDGE_ALLOWED_SOURCE_NETWORKS`.

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

/// The client's address. The peer address, unless the peer is a trusted proxy: then the
/// right-most address of `X-Forwarded-For` that is not itself a trusted proxy (entries further
/// left are written by the client and can not be believed).
pub fn client_ip(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    if !trusted.iter().any(|n| n.contains(&peer)) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !trusted.iter().any(|n| n.contains(ip)))
            .unwrap_or(peer),
    )
}

/// True when webhook sources are not restricted, or the client is in an allowed network.
pub fn source_allowed(req: &HttpRequest, allowed: Option<&[IpNet]>, trusted: &[IpNet]) -> bool {
    match allowed {
        None => true,
        Some(nets) => {
            client_ip(req, trusted).is_some_and(|ip| nets.iter().any(|n| n.contains(&ip)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let spoofed = TestRequest::default()
            .peer_addr("203.0.113.9:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "10.1.1.1"))
            .to_http_request();
        assert_eq!(
            client_ip(&spoofed, &nets(&["10.0.0.0/8"])),
            Some("203.0.113.9".parse().unwrap())
        );

        let proxied = TestRequest::default()
            .peer_addr("10.0.0.2:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "1.2.3.4, 198.51.100.7, 10.0.0.3"))
            .to_http_request();
        assert_eq!(
            client_ip(&proxied, &nets(&["10.0.0.0/8"])),
            Some("198.51.100.7".parse().unwrap())
        );
    }

    #[test]
    fn only_allowed_networks_pass_when_a_list_is_set() {
        let req = TestRequest::default()
            .peer_addr("198.51.100.7:5000".parse().unwrap())
            .to_http_request();
        assert!(source_allowed(&req, None, &[]));
        assert!(source_allowed(&req, Some(&nets(&["198.51.100.0/24"])), &[]));
        assert!(!source_allowed(&req, Some(&nets(&["203.0.113.0/24"])), &[]));
    }
}
