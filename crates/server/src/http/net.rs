//! The client's address for audit and rate limits.

use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};

use actix_web::HttpRequest;

/// The TCP peer, unless the peer is a trusted reverse proxy: then the nearest address in
/// `X-Forwarded-For` that is not itself a trusted proxy. Anyone can write that header, so
/// it is believed only from the configured proxies.
pub fn client_ip(req: &HttpRequest, trusted_proxies: &[IpAddr]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    if !trusted_proxies.contains(&peer) {
        if req.headers().contains_key("x-forwarded-for") {
            warn_untrusted_forwarder(peer);
        }
        return Some(peer);
    }
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    Some(resolve(peer, &forwarded, trusted_proxies))
}

/// A load balancer missing from `PULSEKEY_TRUSTED_PROXIES` makes every client look like the
/// balancer, so one client's refusals count against all. Said at most once a minute.
fn warn_untrusted_forwarder(peer: IpAddr) {
    static LAST_WARNED: AtomicI64 = AtomicI64::new(i64::MIN);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let last = LAST_WARNED.load(Ordering::Relaxed);
    if now.saturating_sub(last) >= 60
        && LAST_WARNED
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::warn!(
            %peer,
            "X-Forwarded-For from a peer that is not in PULSEKEY_TRUSTED_PROXIES: ignored; \
             if this peer is your load balancer, add it, or every client behind it shares one address"
        );
    }
}

fn resolve(peer: IpAddr, forwarded: &str, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let mut nearest = peer;
    for hop in forwarded.split(',').rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => nearest = ip,
            Ok(ip) => return ip,
            Err(_) => return nearest,
        }
    }
    nearest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_the_header_says() {
        assert_eq!(
            resolve(ip("203.0.113.9"), "1.2.3.4", &[]),
            ip("203.0.113.9")
        );
        assert_eq!(
            resolve(ip("203.0.113.9"), "1.2.3.4", &[ip("10.0.0.1")]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn trusted_proxy_yields_the_nearest_untrusted_hop() {
        let trusted = [ip("10.0.0.1"), ip("10.0.0.2")];
        assert_eq!(
            resolve(ip("10.0.0.1"), "198.51.100.7", &trusted),
            ip("198.51.100.7")
        );
        // A client that forges a first hop does not get to choose its address.
        assert_eq!(
            resolve(ip("10.0.0.1"), "6.6.6.6, 198.51.100.7, 10.0.0.2", &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(resolve(ip("10.0.0.1"), "", &trusted), ip("10.0.0.1"));
        assert_eq!(resolve(ip("10.0.0.1"), "garbage", &trusted), ip("10.0.0.1"));
    }
}
