//! Times as people read them: local time, plus how long ago.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub fn local(at: OffsetDateTime) -> String {
    let iso = at.format(&Rfc3339).unwrap_or_default();
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(&iso));
    String::from(date.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED))
}

/// How long before `now_ms` (milliseconds since the epoch) `at` was.
pub fn ago(at: OffsetDateTime, now_ms: f64) -> String {
    let then_ms = (at.unix_timestamp_nanos() / 1_000_000) as f64;
    let secs = ((now_ms - then_ms) / 1000.0).max(0.0) as i64;
    match secs {
        0..=59 => "just now".to_owned(),
        60..=3599 => format!("{} min ago", secs / 60),
        3600..=86_399 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86_400),
    }
}

/// "local time (2 min ago)", or "never". Pass the live clock's `now_ms` so that it ticks.
pub fn heartbeat(at: Option<OffsetDateTime>, now_ms: f64) -> String {
    match at {
        Some(at) => format!("{} ({})", local(at), ago(at, now_ms)),
        None => "never".to_owned(),
    }
}
