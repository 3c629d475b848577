//! Where a webhook may be sent. An endpoint's URL is chosen by whoever holds an admin
//! session or a `webhooks:write` token; without these rules it would be a way to make
//! pulsekey call services only its own network can reach (a cloud's metadata address, a
//! database's admin port).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::DomainError;

const MAX_URL_LEN: usize = 2000;

/// An endpoint's URL as the audit log keeps it: without its query or fragment, which may
/// carry a token the receiver checks, and the log outlives the endpoint.
pub fn for_the_record(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            let had_more = parsed.query().is_some() || parsed.fragment().is_some();
            parsed.set_query(None);
            parsed.set_fragment(None);
            let mut text = String::from(parsed);
            if had_more {
                text.push_str("?…");
            }
            text
        }
        Err(_) => String::new(),
    }
}

/// A URL an endpoint may have: `http` or `https`, a host, no credentials. Whether its
/// address is allowed is decided where it is resolved (see [`is_public`]).
pub fn validate_url(text: &str) -> Result<url::Url, DomainError> {
    let invalid = |why: &str| DomainError::Validation(format!("url {why}"));
    if text.len() > MAX_URL_LEN {
        return Err(invalid("must be at most 2000 characters"));
    }
    let url = url::Url::parse(text.trim()).map_err(|_| invalid("is not a valid URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("must start with https:// or http://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "must not carry credentials: receivers check the signature instead",
        ));
    }
    if url.fragment().is_some() {
        return Err(invalid("must not have a #fragment"));
    }
    Ok(url)
}

/// The literal address in a URL's host, if it is one (such a URL is not resolved).
pub fn literal_address(url: &url::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// An address on the public internet: not loopback, private, link-local (where clouds
/// answer metadata requests), shared, reserved, multicast or documentation space.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(ip),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // Shared address space (carrier-grade NAT), 100.64.0.0/10.
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments, 192.0.0.0/24.
        || (a == 192 && b == 0 && c == 0)
        // Benchmarking, 198.18.0.0/15.
        || (a == 198 && (b == 18 || b == 19))
        // Reserved, 240.0.0.0/4.
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // Unique local, fc00::/7 (where a cloud's IPv6 metadata address lives).
        || (first & 0xfe00) == 0xfc00
        // Link-local, fe80::/10.
        || (first & 0xffc0) == 0xfe80
        // Documentation, 2001:db8::/32.
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
        // NAT64 (64:ff9b::/96) and IPv4-compatible addresses reach IPv4 space by another
        // name: refused rather than decoded.
        || (first == 0x0064 && ip.segments()[1] == 0xff9b)
        || ip.segments()[..6] == [0; 6]
        // SIIT (::ffff:0:a.b.c.d), 6to4 (2002::/16) and Teredo (2001::/32) reach IPv4
        // addresses too; site-local (fec0::/10) is private space, long deprecated.
        || ip.segments()[..6] == [0, 0, 0, 0, 0xffff, 0]
        || first == 0x2002
        || (first == 0x2001 && ip.segments()[1] == 0)
        || (first & 0xffc0) == 0xfec0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_log_keeps_no_query() {
        assert_eq!(
            for_the_record("https://crm.example.com/hooks?token=s3cret#x"),
            "https://crm.example.com/hooks?…"
        );
        assert_eq!(
            for_the_record("https://crm.example.com/hooks"),
            "https://crm.example.com/hooks"
        );
    }

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "127.0.0.2",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::7f00:1",
            "::127.0.0.1",
            "2001:db8::1",
            "ff02::1",
            "::ffff:0:7f00:1",
            "2002:7f00:1::1",
            "2001:0:4136:e378::1",
            "fec0::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_are_http_with_a_host_and_no_credentials() {
        for good in [
            "https://billing.example.com/hooks?x=1",
            "http://10.0.0.5:8080/",
            "https://[2606:4700::1111]/",
        ] {
            assert!(validate_url(good).is_ok(), "{good}");
        }
        for bad in [
            "ftp://example.com/",
            "https://user:pass@example.com/",
            "https://example.com/#frag",
            "example.com/hook",
            "file:///etc/passwd",
            "",
        ] {
            assert!(validate_url(bad).is_err(), "{bad}");
        }
        assert!(validate_url(&format!("https://example.com/{}", "a".repeat(2000))).is_err());
        let url = validate_url("http://127.0.0.1:9/").unwrap();
        assert_eq!(literal_address(&url), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(
            literal_address(&validate_url("https://localhost/").unwrap()),
            None
        );
    }
}
