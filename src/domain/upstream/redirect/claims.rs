//! The claim mapping (Dex's `claimMapping`, `userIDKey`,
//! `insecureSkipEmailVerified`): the verified ID token's claims and the
//! userinfo answer become a [`Profile`]. Userinfo wins where both carry a
//! claim, but its `sub` must be the ID token's (OIDC Core §5.3.2). At a
//! renewal ([`renewed`]) the grant's last known profile stands in for the
//! ID token, so what a sign-in accepted is never refused later.

use serde_json::{Map, Value};

use super::config::RedirectClaims;
use crate::domain::types::Subject;
use crate::domain::upstream::{Profile, UpstreamError};

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
        .and_then(|s| Subject::new(s).ok())
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
    let email_verified = match verified(mapping, sources)? {
        Some(b) => Some(b),
        None if email.is_none() => None,
        None if skip_email_verified => Some(true),
        None => {
            return Err(UpstreamError::Protocol(format!(
                "the legacy IdP sent an email but no `{}` claim; set insecure_skip_email_verified = true if it never sends one",
                mapping.email_verified
            )));
        }
    };
    Ok(Profile {
        subject,
        email,
        email_verified,
        name: name(mapping, sources),
        attributes: attributes(mapping, sources),
    })
}

/// Maps a userinfo answer read at renewal over the grant's `known` profile,
/// which stands in for the ID token a renewal does not verify: userinfo
/// wins where it carries a claim, as at sign-in, and a claim it lacks keeps
/// its known value. An email whose verification userinfo does not state
/// (and `insecure_skip_email_verified` does not assume) is not taken: the
/// known email and `email_verified` stay. Userinfo about another user is
/// refused. Without a known profile this is the sign-in's mapping.
pub fn renewed(
    mapping: &RedirectClaims,
    userinfo: &Map<String, Value>,
    known: Option<&Profile>,
    skip_email_verified: bool,
) -> Result<Profile, UpstreamError> {
    let sources = Sources {
        id_token: None,
        userinfo: Some(userinfo),
    };
    let Some(known) = known else {
        return profile(mapping, &sources, skip_email_verified);
    };
    if let Some(subject) = sources.get(&mapping.user_id).and_then(as_text) {
        if subject != known.subject {
            return Err(UpstreamError::Protocol(
                "the userinfo answer at renewal is about another user".into(),
            ));
        }
    }
    let email = sources.get(&mapping.email).and_then(Value::as_str);
    let (email, email_verified) = match (email, verified(mapping, &sources)?) {
        (Some(email), Some(v)) => (Some(email.to_owned()), Some(v)),
        (Some(email), None) if skip_email_verified => (Some(email.to_owned()), Some(true)),
        _ => (known.email.clone(), known.email_verified),
    };
    let mut attributes = known.attributes.clone();
    attributes.extend(self::attributes(mapping, &sources));
    Ok(Profile {
        subject: known.subject.clone(),
        email,
        email_verified,
        name: name(mapping, &sources).or_else(|| known.name.clone()),
        attributes,
    })
}

/// When the user authenticated, from the `auth_time` of `stated` (the ID
/// token's, or userinfo's for oauth2), unix seconds: a reused upstream
/// session keeps its own time. Never later than `now` (a clock ahead must
/// not make an authentication look fresher than it is); `now` when absent
/// or not a positive number.
pub fn auth_time(stated: Option<&Map<String, Value>>, now: i64) -> i64 {
    let stated = stated
        .and_then(|m| m.get("auth_time"))
        .and_then(|v| match v {
            Value::Number(n) => n.as_i64().or_else(|| {
                // A fractional time: its second. The cast saturates.
                #[allow(clippy::cast_possible_truncation)]
                n.as_f64().map(|f| f.floor() as i64)
            }),
            _ => None,
        });
    stated.filter(|t| *t > 0).map_or(now, |t| t.min(now))
}

/// `email_verified` when the sources carry it; a value that is not a
/// boolean is refused.
fn verified(
    mapping: &RedirectClaims,
    sources: &Sources<'_>,
) -> Result<Option<bool>, UpstreamError> {
    match sources.get(&mapping.email_verified) {
        Some(Value::Bool(b)) => Ok(Some(*b)),
        // Some IdPs (AWS Cognito among them) send it as a string.
        Some(Value::String(s)) if s == "true" || s == "false" => Ok(Some(s == "true")),
        Some(_) => Err(UpstreamError::Protocol(format!(
            "the claim `{}` is not a boolean",
            mapping.email_verified
        ))),
        None => Ok(None),
    }
}

fn name(mapping: &RedirectClaims, sources: &Sources<'_>) -> Option<String> {
    sources
        .get(&mapping.name)
        .or_else(|| sources.get("preferred_username"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The groups and the extra attributes the sources carry.
fn attributes(mapping: &RedirectClaims, sources: &Sources<'_>) -> Map<String, Value> {
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
    attributes
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
    fn a_renewal_maps_userinfo_over_the_known_profile() {
        let mut mapping = RedirectClaims::default();
        mapping.extra.insert("department".into(), "dept".into());
        let known = Profile {
            subject: Subject::new("u1").expect("valid"),
            email: Some("old@b".into()),
            email_verified: Some(true),
            name: Some("Old".into()),
            attributes: map(&json!({"groups": ["g1"], "department": "D1"})),
        };
        // Only the ID token carried the groups; the name changed.
        let info = map(&json!({"sub": "u1", "name": "New", "dept": "D2"}));
        let p = renewed(&mapping, &info, Some(&known), false).expect("renewed");
        assert_eq!(p.subject, "u1");
        assert_eq!(p.name.as_deref(), Some("New"));
        assert_eq!(p.attributes["groups"], json!(["g1"]));
        assert_eq!(p.attributes["department"], json!("D2"));
        assert_eq!(
            (p.email.as_deref(), p.email_verified),
            (Some("old@b"), Some(true))
        );
        // An email whose verification is not stated is not taken...
        let info = map(&json!({"sub": "u1", "email": "new@b"}));
        let p = renewed(&mapping, &info, Some(&known), false).expect("renewed");
        assert_eq!(
            (p.email.as_deref(), p.email_verified),
            (Some("old@b"), Some(true))
        );
        // ...unless the switch assumes it, or userinfo states it.
        let p = renewed(&mapping, &info, Some(&known), true).expect("renewed");
        assert_eq!(
            (p.email.as_deref(), p.email_verified),
            (Some("new@b"), Some(true))
        );
        let info = map(&json!({"email": "new@b", "email_verified": false}));
        let p = renewed(&mapping, &info, Some(&known), false).expect("renewed");
        assert_eq!(
            (p.email.as_deref(), p.email_verified),
            (Some("new@b"), Some(false))
        );
        // Another user's userinfo is refused; none at all maps as at sign-in.
        let other = map(&json!({"sub": "u2"}));
        assert!(renewed(&mapping, &other, Some(&known), false).is_err());
        let p = renewed(&mapping, &other, None, false).expect("as at sign-in");
        assert_eq!(p.subject, "u2");
    }

    #[test]
    fn auth_time_is_the_stated_one_never_in_the_future() {
        let now = 1_700_000_000;
        let at = |v: Value| auth_time(Some(&map(&json!({"auth_time": v}))), now);
        assert_eq!(at(json!(now - 3600)), now - 3600);
        assert_eq!(at(json!(now + 3600)), now, "never in the future");
        assert_eq!(at(json!(1_699_999_000.7)), 1_699_999_000);
        assert_eq!(at(json!("1699999000")), now, "a string is no time");
        assert_eq!(at(json!(0)), now);
        assert_eq!(auth_time(None, now), now);
        assert_eq!(auth_time(Some(&map(&json!({"sub": "u"}))), now), now);
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
