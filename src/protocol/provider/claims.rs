//! The `claims` request parameter (OIDC Core §5.5): individual claims asked
//! for in the ID token or at userinfo, beyond what the scopes give.
//!
//! A claims request selects; it never widens. A claim is released only if
//! the client may be granted the scope that carries it (`email` for the
//! email, `profile` for the name and legacy attributes), so a client limited
//! to `openid` cannot read an email by naming it. Claims that are missing
//! are left out without an error, essential or not (§5.5.1), with the two
//! exceptions the specification makes: a `sub` with a `value` must be the
//! user who signs in (§5.5.1), and an essential `acr` the bridge cannot
//! meet fails the request (§5.5.1.1) — the bridge asserts no `acr`, since
//! it knows nothing of how the legacy IdP authenticated.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Claims named per destination, kept with the grant so refreshed ID tokens
/// and userinfo release the same ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestedClaims {
    /// Claims for the ID token.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_token: Vec<String>,
    /// Claims for the userinfo answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub userinfo: Vec<String>,
}

impl RequestedClaims {
    /// Whether nothing was asked for.
    pub fn is_empty(&self) -> bool {
        self.id_token.is_empty() && self.userinfo.is_empty()
    }

    /// The form kept in the grant row: empty when nothing was asked for.
    pub fn to_stored(&self) -> String {
        if self.is_empty() {
            String::new()
        } else {
            serde_json::to_string(self).unwrap_or_default()
        }
    }

    /// Reads the grant row's form back; anything unreadable means none.
    pub fn from_stored(text: &str) -> Self {
        if text.is_empty() {
            return Self::default();
        }
        serde_json::from_str(text).unwrap_or_default()
    }
}

/// A parsed claims request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimsRequest {
    /// What to release where (already limited to what the client may get).
    pub requested: RequestedClaims,
    /// The subject the client asked for with `"sub": {"value": ..}`.
    pub subject: Option<String>,
    /// An essential `acr` with values: the bridge cannot meet it.
    pub essential_acr: bool,
}

/// Why a claims request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimsError {
    /// Not JSON of the §5.5 shape: `invalid_request`.
    Malformed(&'static str),
}

/// Most claim names one destination may list; more is not a real request.
const MAX_CLAIMS: usize = 64;
/// Claims every ID token and userinfo answer carries anyway.
const ALWAYS: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
];

/// The scope that carries a claim (OIDC Core §5.4): `email` for the email,
/// `profile` for the rest of what a legacy profile holds.
fn carrying_scope(claim: &str) -> &'static str {
    if claim == "email" || claim == "email_verified" {
        "email"
    } else {
        "profile"
    }
}

/// Parses the `claims` parameter for a client allowed `client_scopes`.
pub fn parse(text: &str, client_scopes: &[String]) -> Result<ClaimsRequest, ClaimsError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|_| ClaimsError::Malformed("claims is not a JSON object"))?;
    let object = value
        .as_object()
        .ok_or(ClaimsError::Malformed("claims is not a JSON object"))?;
    let mut out = ClaimsRequest::default();
    for (member, names) in [
        ("id_token", &mut out.requested.id_token),
        ("userinfo", &mut out.requested.userinfo),
    ] {
        let Some(entries) = object.get(member) else {
            continue;
        };
        let entries = entries.as_object().ok_or(ClaimsError::Malformed(
            "claims members must be JSON objects",
        ))?;
        if entries.len() > MAX_CLAIMS {
            return Err(ClaimsError::Malformed("claims asks for too many claims"));
        }
        for (name, spec) in entries {
            let spec = Spec::read(spec)?;
            match name.as_str() {
                "sub" => {
                    if let Some(sub) = spec.value {
                        let sub = sub
                            .as_str()
                            .ok_or(ClaimsError::Malformed("sub value must be a string"))?;
                        if out.subject.as_deref().is_some_and(|s| s != sub) {
                            return Err(ClaimsError::Malformed(
                                "claims asks for two different subjects",
                            ));
                        }
                        out.subject = Some(sub.to_owned());
                    }
                }
                "acr" => out.essential_acr |= spec.essential && spec.constrained,
                _ if ALWAYS.contains(&name.as_str()) => {}
                _ => {
                    let allowed = client_scopes.iter().any(|s| s == carrying_scope(name));
                    if allowed && !names.contains(name) {
                        names.push(name.clone());
                    }
                }
            }
        }
    }
    Ok(out)
}

/// One claim's request: `null` or `{essential, value, values}`.
struct Spec {
    essential: bool,
    value: Option<Value>,
    /// A `value` or `values` was given.
    constrained: bool,
}

impl Spec {
    fn read(spec: &Value) -> Result<Self, ClaimsError> {
        let malformed = ClaimsError::Malformed("a claim's request must be null or an object");
        match spec {
            Value::Null => Ok(Self {
                essential: false,
                value: None,
                constrained: false,
            }),
            Value::Object(o) => {
                let essential = match o.get("essential") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => *b,
                    Some(_) => return Err(ClaimsError::Malformed("essential must be a boolean")),
                };
                if o.get("values").is_some_and(|v| !v.is_array()) {
                    return Err(ClaimsError::Malformed("values must be an array"));
                }
                Ok(Self {
                    essential,
                    value: o.get("value").cloned(),
                    constrained: o.contains_key("value") || o.contains_key("values"),
                })
            }
            _ => Err(malformed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(s: &[&str]) -> Vec<String> {
        s.iter().map(|&s| s.to_owned()).collect()
    }

    #[test]
    fn names_are_kept_per_destination_and_limited_by_the_clients_scopes() {
        let text = r#"{"id_token":{"email":{"essential":true},"department":null,"sub":null},
                       "userinfo":{"name":null,"email":null}}"#;
        let all = parse(text, &scopes(&["openid", "profile", "email"])).expect("valid");
        assert_eq!(all.requested.id_token, ["email", "department"]);
        assert_eq!(all.requested.userinfo, ["name", "email"]);
        let narrow = parse(text, &scopes(&["openid", "email"])).expect("valid");
        assert_eq!(narrow.requested.id_token, ["email"], "no profile scope");
        assert_eq!(narrow.requested.userinfo, ["email"]);
    }

    #[test]
    fn sub_values_and_essential_acr_are_read() {
        let r = parse(
            r#"{"id_token":{"sub":{"value":"u1"},"acr":{"essential":true,"values":["x"]}}}"#,
            &scopes(&["openid"]),
        )
        .expect("valid");
        assert_eq!(r.subject.as_deref(), Some("u1"));
        assert!(r.essential_acr);
        let voluntary = parse(r#"{"id_token":{"acr":{"values":["x"]}}}"#, &[]).expect("valid");
        assert!(!voluntary.essential_acr);
        assert!(
            parse(
                r#"{"id_token":{"sub":{"value":"a"}},"userinfo":{"sub":{"value":"b"}}}"#,
                &[]
            )
            .is_err()
        );
    }

    #[test]
    fn malformed_requests_are_refused() {
        for bad in [
            "",
            "[]",
            "{",
            r#"{"id_token":[]}"#,
            r#"{"id_token":{"email":true}}"#,
            r#"{"id_token":{"email":{"essential":"yes"}}}"#,
            r#"{"userinfo":{"email":{"values":"a"}}}"#,
            r#"{"id_token":{"sub":{"value":1}}}"#,
        ] {
            assert!(parse(bad, &[]).is_err(), "{bad} should be refused");
        }
        assert_eq!(
            parse(r#"{"other":1}"#, &[]).expect("unknown members are ignored"),
            ClaimsRequest::default()
        );
    }

    #[test]
    fn the_stored_form_round_trips() {
        let r = RequestedClaims {
            id_token: vec!["email".into()],
            userinfo: vec![],
        };
        assert_eq!(RequestedClaims::from_stored(&r.to_stored()), r);
        assert_eq!(RequestedClaims::default().to_stored(), "");
        assert_eq!(
            RequestedClaims::from_stored("junk"),
            RequestedClaims::default()
        );
    }
}
