//! Reading values out of a legacy IdP's JSON answers by JSON pointer
//! (RFC 6901), and mapping them onto a [`Profile`].

use serde_json::Value;

use super::config::ClaimsConfig;
use super::{Profile, UpstreamError};
use crate::domain::types::Subject;

/// Whether `pointer` is a syntactically valid JSON pointer.
pub fn is_valid(pointer: &str) -> bool {
    pointer.is_empty() || pointer.starts_with('/')
}

/// The value at `pointer` as a string: strings as they are, numbers and
/// booleans in their JSON form; `None` for null, missing, arrays and objects.
pub fn string_at(json: &Value, pointer: &str) -> Option<String> {
    match json.pointer(pointer)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The value at `pointer` as whole seconds: a JSON integer or a decimal string.
pub fn seconds_at(json: &Value, pointer: &str) -> Option<i64> {
    match json.pointer(pointer)? {
        // Fractional seconds are rounded down; out-of-range values are refused.
        #[allow(clippy::cast_possible_truncation)]
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && f.abs() < 1e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An absolute time: unix seconds (number or string) or RFC 3339.
pub fn parse_instant(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(n) = text.parse::<i64>() {
        return Some(n);
    }
    let t = humantime::parse_rfc3339_weak(text).ok()?;
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}

/// Maps a JSON answer onto a profile. The subject is required: a user
/// without a stable id cannot be federated.
pub fn profile_from(json: &Value, claims: &ClaimsConfig) -> Result<Profile, UpstreamError> {
    let subject = string_at(json, &claims.subject)
        .and_then(|s| Subject::new(s).ok())
        .ok_or_else(|| {
            UpstreamError::Protocol(format!("no subject at the JSON pointer {}", claims.subject))
        })?;
    let mut attributes = serde_json::Map::new();
    for (name, pointer) in &claims.extra {
        if let Some(value) = json.pointer(pointer).filter(|v| !v.is_null()) {
            attributes.insert(name.clone(), value.clone());
        }
    }
    Ok(Profile {
        subject,
        email: claims.email.as_deref().and_then(|p| string_at(json, p)),
        email_verified: None,
        name: claims.name.as_deref().and_then(|p| string_at(json, p)),
        attributes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numeric_ids_become_strings_and_missing_subject_is_a_protocol_error() {
        let claims = ClaimsConfig {
            subject: "/user/id".into(),
            ..ClaimsConfig::default()
        };
        let p =
            profile_from(&json!({"user": {"id": 42}, "email": "a@b"}), &claims).expect("profile");
        assert_eq!(p.subject, "42");
        assert_eq!(p.email.as_deref(), Some("a@b"));
        assert!(matches!(
            profile_from(&json!({}), &claims),
            Err(UpstreamError::Protocol(_))
        ));
    }

    #[test]
    fn instants_parse_from_unix_seconds_and_rfc3339() {
        assert_eq!(parse_instant("1764000000"), Some(1_764_000_000));
        assert_eq!(parse_instant("2025-11-24T16:00:00Z"), Some(1_764_000_000));
        assert_eq!(parse_instant("tomorrow"), None);
    }
}
