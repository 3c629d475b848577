//! What a proxy sends with a heartbeat, checked before anything is looked up. Pure functions,
//! so the fuzz targets (`fuzz/`) and their corpus replay reach exactly what the handler runs.

use pulsekey_types::HeartbeatRequest;

use crate::DomainError;
use crate::keys::LicenseKey;

/// The bearer token of an `Authorization` header as presented, trimmed; empty when there is
/// none, so a missing key is refused like a wrong one. The scheme's name is matched without
/// regard to case (RFC 9110 §11.1); this is the one parser for heartbeats, the API and
/// `/metrics`.
pub fn presented_key(authorization: Option<&[u8]>) -> &str {
    authorization
        .and_then(|value| std::str::from_utf8(value).ok())
        .and_then(|value| {
            let (scheme, token) = value.split_at_checked(7)?;
            scheme.eq_ignore_ascii_case("Bearer ").then_some(token)
        })
        .map_or("", str::trim)
}

/// The presented key, if it has a license key's shape and checksum.
pub fn license_key(authorization: Option<&[u8]>) -> Option<LicenseKey> {
    LicenseKey::parse(presented_key(authorization)).ok()
}

/// `X-Pulsekey-Nonce`: absent means empty; present, 1–128 visible ASCII characters, since
/// it is echoed into the signed bytes.
pub fn nonce(header: Option<&[u8]>) -> Result<String, DomainError> {
    let Some(value) = header else {
        return Ok(String::new());
    };
    if value.is_empty() || value.len() > 128 || !value.iter().all(u8::is_ascii_graphic) {
        return Err(DomainError::Malformed(
            "X-Pulsekey-Nonce must be 1–128 visible ASCII characters".into(),
        ));
    }
    Ok(String::from_utf8_lossy(value).into_owned())
}

/// The JSON body: an object with a printable `version` of 1–64 characters and, optionally,
/// a printable `hostname` of at most 255 bytes.
pub fn request(body: &[u8]) -> Result<HeartbeatRequest, DomainError> {
    // serde would also read a struct from an array (`["3.1"]`); the body is an object.
    if !body.trim_ascii_start().starts_with(b"{") {
        return Err(DomainError::Malformed(
            "the body must be a JSON object".into(),
        ));
    }
    let request: HeartbeatRequest = serde_json::from_slice(body)
        .map_err(|err| DomainError::Malformed(format!("invalid JSON body: {err}")))?;
    let version = &request.version;
    if version.is_empty()
        || version.chars().count() > 64
        || version.chars().any(crate::is_unprintable)
    {
        return Err(DomainError::Malformed(
            "version must be 1–64 printable characters".into(),
        ));
    }
    if request
        .hostname
        .as_ref()
        .is_some_and(|h| h.len() > 255 || h.chars().any(crate::is_unprintable))
    {
        return Err(DomainError::Malformed(
            "hostname must be at most 255 printable characters".into(),
        ));
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_the_trimmed_bearer_token_or_nothing() {
        assert_eq!(presented_key(Some(b"Bearer  pk_abc ")), "pk_abc");
        assert_eq!(presented_key(Some(b"bEARER pk_abc")), "pk_abc");
        assert_eq!(presented_key(Some(b"Bearer")), "");
        assert_eq!(presented_key(Some(b"Basic pk_abc")), "");
        assert_eq!(presented_key(Some(b"Bearer \xff")), "");
        assert_eq!(presented_key(None), "");
        let key = LicenseKey::generate();
        let header = format!("Bearer {}", key.expose());
        assert_eq!(license_key(Some(header.as_bytes())), Some(key));
        assert_eq!(license_key(Some(b"Bearer pk_short")), None);
    }

    #[test]
    fn nonces_are_visible_ascii_of_bounded_length() {
        assert_eq!(nonce(None).unwrap(), "");
        assert_eq!(nonce(Some(b"n-1")).unwrap(), "n-1");
        for bad in [&b""[..], b"has space", b"\xc3\xa9", &[b'a'; 129]] {
            assert!(matches!(nonce(Some(bad)), Err(DomainError::Malformed(_))));
        }
    }

    #[test]
    fn bodies_must_be_objects_with_a_printable_version() {
        assert_eq!(request(br#"{"version":"3.1"}"#).unwrap().version, "3.1");
        for bad in [
            &br#"["3.1"]"#[..],
            b"",
            b"{",
            br#"{"version":""}"#,
            br#"{"version":"a\u0000b"}"#,
            br#"{"version":3}"#,
            br#"{"version":"3","hostname":"a\nb"}"#,
        ] {
            assert!(
                matches!(request(bad), Err(DomainError::Malformed(_))),
                "{bad:?}"
            );
        }
        let long = format!(r#"{{"version":"{}"}}"#, "9".repeat(65));
        assert!(request(long.as_bytes()).is_err());
    }
}
