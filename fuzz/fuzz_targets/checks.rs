//! The properties each fuzz target checks, shared with the corpus replay test. Each takes
//! arbitrary bytes and panics only if pulsekey broke a promise on them.

// Each target uses one of these; the replay test uses them all.
#![allow(dead_code)]

use pulsekey_core::heartbeat::input as heartbeat;
use pulsekey_core::keys::LicenseKey;
use pulsekey_types::signature::{BatchProof, leaf_hash};

/// The key codec accepts exactly its own output: a parsed key reads back unchanged, and its
/// mask shows no more than the last four characters.
pub fn key_codec(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(key) = LicenseKey::parse(text) else {
        return;
    };
    assert_eq!(key.expose(), text);
    assert_eq!(LicenseKey::parse(key.expose()).ok().as_ref(), Some(&key));
    assert!(text.ends_with(key.last4()) && key.last4().len() == 4);
    let masked = key.masked();
    assert!(masked.ends_with(key.last4()));
    assert!(!masked.contains(&text[..text.len() - 4]));
}

/// A heartbeat's header and body checks never panic, and what they accept is within the
/// bounds the handler relies on. Input: authorization, 0xFF, nonce, 0xFF, body.
pub fn heartbeat_input(data: &[u8]) {
    let mut parts = data.splitn(3, |&b| b == 0xff);
    let authorization = parts.next();
    let nonce_header = parts.next();
    let body = parts.next().unwrap_or_default();
    let key = heartbeat::license_key(authorization);
    if let Some(key) = &key {
        assert_eq!(key.expose(), heartbeat::presented_key(authorization));
    }
    let nonce = match heartbeat::nonce(nonce_header) {
        Ok(nonce) => {
            assert!(nonce.len() <= 128 && nonce.bytes().all(|b| b.is_ascii_graphic()));
            nonce
        }
        Err(_) => String::new(),
    };
    if let Ok(request) = heartbeat::request(body) {
        let length = request.version.chars().count();
        assert!((1..=64).contains(&length));
        assert!(!request.version.chars().any(char::is_control));
        assert!(request.hostname.is_none_or(|h| h.len() <= 255));
    }
    let _ = leaf_hash(heartbeat::presented_key(authorization), &nonce, body);
}

/// The agent's reading of `X-Pulsekey-Signature` never panics, and a proof it accepts
/// survives writing and reading back.
pub fn signature_header(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(proof) = BatchProof::from_header(text) {
        assert_eq!(
            BatchProof::from_header(&proof.to_header()),
            Some(proof.clone())
        );
        let _ = proof.root([0; 32]);
    }
}
