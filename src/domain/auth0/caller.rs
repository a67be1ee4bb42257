//! The one check of an Auth0 caller, shared by token exchange
//! (`provider::exchange`) and the gateway (`gateway`): the access token
//! verifies ([`Auth0Verifier::verify`]), carries one of the allowed
//! audiences and every required scope (in `scope`, never `permissions`),
//! and names a legacy subject ([`Auth0Verifier::legacy_subject`]), in that
//! order. Each caller maps a [`CallerRefusal`] to its own answer (an OAuth
//! error at the token endpoint, an RFC 6750 challenge at the gateway); the
//! audit class is the same for both. Token exchange checks through the
//! verifier's kept verifications ([`verify_caller_cached`]); the gateway
//! keeps whole answers in its own cache.

use super::{Auth0Error, Auth0Token, Auth0Verifier};
use crate::domain::types::Subject;

/// A verified Auth0 caller and what its token allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The legacy subject the Auth0 user maps to.
    pub subject: Subject,
    /// The token's audiences.
    pub audiences: Vec<String>,
    /// The token's scopes (`scope`).
    pub scopes: Vec<String>,
    /// The token's expiry, unix seconds.
    pub exp: i64,
}

/// Why a caller was refused.
#[derive(Debug)]
pub enum CallerRefusal {
    /// The token does not verify (or Auth0's keys cannot be fetched:
    /// [`Auth0Error::JwksUnavailable`]).
    Token(Auth0Error),
    /// None of the token's audiences is allowed here.
    Audience(Vec<String>),
    /// A required scope is missing from `scope`.
    Scope,
    /// The Auth0 user maps to no legacy subject.
    Subject,
}

impl CallerRefusal {
    /// The audit class (a verification failure's own class).
    pub fn class(&self) -> &'static str {
        match self {
            Self::Token(e) => e.class(),
            Self::Audience(_) => "audience",
            Self::Scope => "scope",
            Self::Subject => "subject",
        }
    }
}

/// The audience rule (any one of the token's audiences is `allowed`) and
/// the scope rule (every `required` scope is among the token's), in that
/// order; also what a cached caller is checked against on each use.
pub fn check_grants(
    audiences: &[String],
    scopes: &[String],
    allowed: &[String],
    required: &[String],
) -> Result<(), CallerRefusal> {
    if !audiences.iter().any(|a| allowed.contains(a)) {
        return Err(CallerRefusal::Audience(audiences.to_vec()));
    }
    if !required.iter().all(|s| scopes.contains(s)) {
        return Err(CallerRefusal::Scope);
    }
    Ok(())
}

/// The caller of a verified token: the grants checked, then its legacy
/// subject.
pub fn caller(
    verifier: &Auth0Verifier,
    token: Auth0Token,
    allowed: &[String],
    required: &[String],
) -> Result<Caller, CallerRefusal> {
    check_grants(&token.audiences, &token.scopes, allowed, required)?;
    let subject = verifier
        .legacy_subject(&token)
        .ok_or(CallerRefusal::Subject)?;
    Ok(Caller {
        subject,
        audiences: token.audiences,
        scopes: token.scopes,
        exp: token.exp,
    })
}

/// [`verify_caller`] through [`Auth0Verifier::verify_cached`]: the same
/// checks in the same order, the signature verified once per token.
pub async fn verify_caller_cached(
    verifier: &Auth0Verifier,
    token: &str,
    allowed: &[String],
    required: &[String],
) -> Result<Caller, CallerRefusal> {
    let token = verifier
        .verify_cached(token)
        .await
        .map_err(CallerRefusal::Token)?;
    check_grants(&token.audiences, &token.scopes, allowed, required)?;
    let subject = token.legacy_subject.clone().ok_or(CallerRefusal::Subject)?;
    Ok(Caller {
        subject,
        audiences: token.audiences.clone(),
        scopes: token.scopes.clone(),
        exp: token.exp,
    })
}

/// Verifies `token` and checks its caller ([`caller`]).
pub async fn verify_caller(
    verifier: &Auth0Verifier,
    token: &str,
    allowed: &[String],
    required: &[String],
) -> Result<Caller, CallerRefusal> {
    let token = verifier.verify(token).await.map_err(CallerRefusal::Token)?;
    caller(verifier, token, allowed, required)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn one_allowed_audience_is_enough() {
        let allowed = strings(&["https://api.example", "https://other.example"]);
        let ok = check_grants(
            &strings(&["https://x.example", "https://other.example"]),
            &[],
            &allowed,
            &[],
        );
        assert!(ok.is_ok());
    }

    #[test]
    fn no_allowed_audience_is_refused_as_audience() {
        let refused = check_grants(
            &strings(&["https://x.example"]),
            &strings(&["read"]),
            &strings(&["https://api.example"]),
            &[],
        )
        .err();
        assert!(
            matches!(&refused, Some(CallerRefusal::Audience(a)) if a == &strings(&["https://x.example"]))
        );
        assert_eq!(refused.map(|r| r.class()), Some("audience"));
    }

    #[test]
    fn every_required_scope_must_be_in_scope() {
        let aud = strings(&["https://api.example"]);
        let refused = check_grants(
            &aud,
            &strings(&["read"]),
            &aud,
            &strings(&["read", "write"]),
        );
        assert_eq!(refused.err().map(|r| r.class()), Some("scope"));
        assert!(
            check_grants(
                &aud,
                &strings(&["write", "read", "x"]),
                &aud,
                &strings(&["read", "write"])
            )
            .is_ok()
        );
    }

    #[test]
    fn audience_is_checked_before_scope() {
        let refused = check_grants(
            &strings(&["https://x.example"]),
            &[],
            &strings(&["https://api.example"]),
            &strings(&["read"]),
        );
        assert_eq!(refused.err().map(|r| r.class()), Some("audience"));
    }

    #[test]
    fn no_audience_at_all_is_refused() {
        let refused = check_grants(&[], &[], &strings(&["https://api.example"]), &[]);
        assert_eq!(refused.err().map(|r| r.class()), Some("audience"));
    }

    #[test]
    fn a_verification_failure_keeps_its_own_class() {
        let refusal = CallerRefusal::Token(Auth0Error::Expired);
        assert_eq!(refusal.class(), Auth0Error::Expired.class());
        assert_eq!(CallerRefusal::Subject.class(), "subject");
    }
}
