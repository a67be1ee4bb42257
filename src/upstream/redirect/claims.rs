//! The claim mapping (Dex's `claimMapping`, `userIDKey`,
//! `insecureSkipEmailVerified`): the verified ID token's claims and the
//! userinfo answer become a [`Profile`]. Userinfo wins where both carry a
//! claim, but its `sub` must be the ID token's (OIDC Core §5.3.2).

use serde_json::{Map, Value};

use super::config::RedirectClaims;
use crate::upstream::{Profile, UpstreamError};

/// Claims as the legacy IdP sent them, from one or two sources.
pub struct Sources<'a> {
    /// The verified ID token's payload.
    pub id_token: Option<&'a Map<String, Value>>,
    /// The userinfo answer.
    pub userinfo: Option<&'a Map<String, Value>>,
}

impl Sources<'_> {
    /// The value `name` refers to: a claim name, or a JSON pointer when it
    /// starts with `/`; userinfo first.
    fn get(&self, name: &str) -> Option<&Value> {
        self.userinfo
            .and_then(|m| lookup(m, name))
            .or_else(|| self.id_token.and_then(|m| lookup(m, name)))
    }
}

fn lookup<'m>(map: &'m Map<String, Value>, name: &str) -> Option<&'m Value> {
    let found = match name.strip_prefix('/') {
        Some(path) => {
            let (first, rest) = path.split_once('/').unwrap_or((path, ""));
            let top = map.get(first)?;
            if rest.is_empty() {
                Some(top)
            } else {
                top.pointer(&format!("/{rest}"))
            }
        }
        None => map.get(name),
    };
    found.filter(|v| !v.is_null())
}

/// A string or a number as text; anything else is not an identifier.
fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Maps the sources onto a profile.
pub fn profile(
    mapping: &RedirectClaims,
    sources: &Sources<'_>,
    skip_email_verified: bool,
) -> Result<Profile, UpstreamError> {
    if let (Some(id), Some(info)) = (sources.id_token, sources.userinfo) {
        if let (Some(a), Some(b)) = (id.get("sub"), info.get("sub")) {
            if a != b {
                return Err(UpstreamError::Protocol(
                    "the userinfo answer's sub is not the ID token's (OIDC Core §5.3.2)".into(),
                ));
            }
        }
    }
    let subject = sources
        .get(&mapping.user_id)
        .and_then(as_text)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            UpstreamError::Protocol(format!(
                "no user id in the claim `{}` (set [upstream.*.claims] user_id)",
                mapping.user_id
            ))
        })?;
    let email = sources
        .get(&mapping.email)
        .and_then(Value::as_str)
        .map(str::to_owned);
    let email_verified = match sources.get(&mapping.email_verified) {
        Some(Value::Bool(b)) => Some(*b),
        // Some IdPs (AWS Cognito among them) send it as a string.
        Some(Value::String(s)) if s == "true" || s == "false" => Some(s == "true"),
        Some(_) => {
            return Err(UpstreamError::Protocol(format!(
                "the claim `{}` is not a boolean",
                mapping.email_verified
            )));
        }
        None if email.is_none() => None,
        None if skip_email_verified => Some(true),
        None => {
            return Err(UpstreamError::Protocol(format!(
                "the legacy IdP sent an email but no `{}` claim; set insecure_skip_email_verified = true if it never sends one",
                mapping.email_verified
            )));
        }
    };
    let name = sources
        .get(&mapping.name)
        .or_else(|| sources.get("preferred_username"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut attributes = Map::new();
    match sources.get(&mapping.groups) {
        Some(Value::Array(items)) => {
            let groups: Vec<Value> = items
                .iter()
                .filter_map(as_text)
                .map(Value::String)
                .collect();
            attributes.insert("groups".into(), Value::Array(groups));
        }
        Some(Value::String(one)) => {
            attributes.insert("groups".into(), Value::Array(vec![one.clone().into()]));
        }
        _ => {}
    }
    for (released, upstream) in &mapping.extra {
        if let Some(value) = sources.get(upstream) {
            attributes.insert(released.clone(), value.clone());
        }
    }
    Ok(Profile {
        subject,
        email,
        email_verified,
        name,
        attributes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: &Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn numbers_become_strings_and_userinfo_wins() {
        let id = map(&json!({"sub": 42, "name": "Old", "email": "a@b", "email_verified": true}));
        let info =
            map(&json!({"sub": 42, "name": "New", "groups": ["x", 7], "dept": {"code": "D1"}}));
        let mut mapping = RedirectClaims::default();
        mapping
            .extra
            .insert("department".into(), "/dept/code".into());
        let p = profile(
            &mapping,
            &Sources {
                id_token: Some(&id),
                userinfo: Some(&info),
            },
            false,
        )
        .expect("profile");
        assert_eq!(p.subject, "42");
        assert_eq!(p.name.as_deref(), Some("New"));
        assert_eq!(p.email_verified, Some(true));
        assert_eq!(p.attributes["groups"], json!(["x", "7"]));
        assert_eq!(p.attributes["department"], json!("D1"));
    }

    #[test]
    fn a_missing_email_verified_fails_unless_skipped() {
        let id = map(&json!({"sub": "u1", "email": "a@b"}));
        let sources = Sources {
            id_token: Some(&id),
            userinfo: None,
        };
        let mapping = RedirectClaims::default();
        let err = profile(&mapping, &sources, false).expect_err("refused");
        assert!(err.to_string().contains("email_verified"), "{err}");
        let p = profile(&mapping, &sources, true).expect("skipped");
        assert_eq!(p.email_verified, Some(true));
        let no_email = map(&json!({"sub": "u1"}));
        let p = profile(
            &mapping,
            &Sources {
                id_token: Some(&no_email),
                userinfo: None,
            },
            false,
        )
        .expect("no email, nothing to verify");
        assert_eq!(p.email_verified, None);
    }

    #[test]
    fn a_userinfo_for_another_subject_is_refused() {
        let id = map(&json!({"sub": "u1"}));
        let info = map(&json!({"sub": "u2"}));
        let err = profile(
            &RedirectClaims::default(),
            &Sources {
                id_token: Some(&id),
                userinfo: Some(&info),
            },
            false,
        )
        .expect_err("refused");
        assert!(err.to_string().contains("5.3.2"), "{err}");
    }
}
