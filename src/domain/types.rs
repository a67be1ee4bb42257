//! The protocol's plain values as types, each parsed once where it enters
//! (zero-to-production's "parse, don't validate"; openidconnect-rs gives
//! every protocol value a newtype): a point in time ([`UnixTime`]), a
//! client id ([`ClientId`]), a user's legacy subject ([`Subject`]) and a
//! redirect URI ([`RedirectUri`]). Each keeps its field private, so a value
//! of the type has passed its constructor's rule; each serializes as the
//! bare number or string it wraps, so sealed and stored values read the same
//! as before the types existed.
//!
//! Why not `url::Url` for a redirect URI: OAuth 2.0 (RFC 6749 §3.1.2.3) and
//! OIDC Core (§3.1.2.1) compare redirect URIs by simple string comparison,
//! and `Url` normalizes (`HTTPS://A.example:443/` becomes
//! `https://a.example/`). [`RedirectUri`] is checked with the URL parser and
//! keeps the exact text it was given.
//!
//! Last in the domain layer's table: it imports nothing of the crate but
//! `util::clock`, so every module above may use it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A point in time in whole seconds since the Unix epoch, the unit of
/// every `exp`, `iat`, `auth_time` and stored expiry.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct UnixTime(i64);

impl UnixTime {
    /// The epoch, `0`: what a missing time reads as.
    pub const EPOCH: Self = Self(0);

    /// The wall clock now (`util::clock::now_unix`, the one time source).
    pub fn now() -> Self {
        Self(crate::util::clock::now_unix())
    }

    /// The time `seconds` after the epoch (negative: before it).
    pub const fn from_secs(seconds: i64) -> Self {
        Self(seconds)
    }

    /// Seconds since the epoch, for a claim or a column.
    pub const fn as_secs(self) -> i64 {
        self.0
    }

    /// `seconds` later (earlier when negative), saturating at the ends of
    /// `i64` instead of overflowing on a hostile lifetime.
    #[must_use]
    pub const fn plus(self, seconds: i64) -> Self {
        Self(self.0.saturating_add(seconds))
    }

    /// Seconds from `earlier` to `self` (negative when `earlier` is later),
    /// saturating.
    pub const fn seconds_since(self, earlier: Self) -> i64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why a value was refused by its type's constructor: a fixed reason,
/// never the value (it may come from anyone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeError {
    /// A client id that is empty, holds `:` (RFC 6749 §2.3.1: the Basic
    /// header joins id and secret with `:`) or a character outside
    /// printable ASCII (Appendix A.1: VSCHAR).
    ClientId,
    /// An empty subject.
    Subject,
    /// A redirect URI that is not an absolute URL (the parser's reason).
    NotAbsoluteUrl(url::ParseError),
    /// A redirect URI with a fragment (RFC 6749 §3.1.2).
    Fragment,
}

impl fmt::Display for TypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ClientId => f.write_str(
                "must be non-empty and contain no ':' (RFC 6749 §2.3.1), printable ASCII only (Appendix A.1)",
            ),
            Self::Subject => f.write_str("must be non-empty"),
            Self::NotAbsoluteUrl(e) => write!(f, "{e}"),
            Self::Fragment => f.write_str("must not have a fragment (RFC 6749 §3.1.2)"),
        }
    }
}

impl std::error::Error for TypeError {}

/// A client id: non-empty printable ASCII (RFC 6749's VSCHAR), without `:`
/// (the rule `[[clients]] id` is checked by). Compared exactly.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "String")]
pub struct ClientId(String);

impl ClientId {
    /// A client id, or why it cannot be one.
    pub fn new(id: impl Into<String>) -> Result<Self, TypeError> {
        let id = id.into();
        // RFC 6749 Appendix A.1: `client-id = *VSCHAR` (%x20-7E), so no
        // control character, no look-alike from another script.
        if id.is_empty() || id.contains(':') || !id.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(TypeError::ClientId);
        }
        Ok(Self(id))
    }

    /// The id as sent and registered.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A legacy user's subject (`sub`): non-empty, otherwise the legacy IdP's
/// own (`util::legacy_subject` says which may be minted for). Compared
/// exactly.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "String")]
pub struct Subject(String);

impl Subject {
    /// A subject, or why it cannot be one.
    pub fn new(subject: impl Into<String>) -> Result<Self, TypeError> {
        let subject = subject.into();
        if subject.is_empty() {
            return Err(TypeError::Subject);
        }
        Ok(Self(subject))
    }

    /// The subject as the legacy IdP gave it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A redirect URI: an absolute URL without a fragment (RFC 6749 §3.1.2),
/// kept as the exact text given and compared as a string (RFC 6749
/// §3.1.2.3, OIDC Core §3.1.2.1), never normalized.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "String")]
pub struct RedirectUri(String);

impl RedirectUri {
    /// A redirect URI, or why it cannot be one.
    pub fn parse(uri: impl Into<String>) -> Result<Self, TypeError> {
        let uri = uri.into();
        let parsed = url::Url::parse(&uri).map_err(TypeError::NotAbsoluteUrl)?;
        if parsed.fragment().is_some() {
            return Err(TypeError::Fragment);
        }
        Ok(Self(uri))
    }

    /// The URI exactly as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URI parsed, to append a query to (the parse cannot fail: the
    /// constructor did it).
    pub fn to_url(&self) -> Option<url::Url> {
        url::Url::parse(&self.0).ok()
    }
}

/// What a refused string was expected to be, for serde's "invalid value:
/// …, expected …" (the configuration's reader stands a value in by it).
struct Expected<'a>(&'static str, &'a TypeError);

impl serde::de::Expected for Expected<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.1)
    }
}

/// A string, expected as `.0` (so a wrong type says what was expected too).
struct Text(&'static str);

impl serde::de::Visitor<'_> for Text {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (a string)", self.0)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
}

/// `Debug`, `Display`, `TryFrom<String>`, `Deserialize` through the
/// constructor, `From<T> for String`, `AsRef<str>` and comparison with
/// `str` for a string newtype. `$what` names the type in a deserializer's
/// "expected" phrase.
macro_rules! string_type {
    ($t:ident, $new:ident, $what:literal) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = d.deserialize_string(Text($what))?;
                Self::$new(text.as_str()).map_err(|e| {
                    serde::de::Error::invalid_value(
                        serde::de::Unexpected::Str(&text),
                        &Expected($what, &e),
                    )
                })
            }
        }

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($t), self.0)
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $t {
            type Error = TypeError;
            fn try_from(value: String) -> Result<Self, TypeError> {
                Self::$new(value)
            }
        }

        impl From<$t> for String {
            fn from(value: $t) -> String {
                value.0
            }
        }

        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $t {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$t> for String {
            fn eq(&self, other: &$t) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$t> for str {
            fn eq(&self, other: &$t) -> bool {
                self == other.0
            }
        }
    };
}

string_type!(ClientId, new, "a client id");
string_type!(Subject, new, "a subject");
string_type!(RedirectUri, parse, "an absolute URL");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_time_adds_orders_and_prints_seconds() {
        let t = UnixTime::from_secs(1_700_000_000);
        assert_eq!(t.plus(60).as_secs(), 1_700_000_060);
        assert_eq!(t.plus(-60).as_secs(), 1_699_999_940);
        assert!(t < t.plus(1));
        assert_eq!(t.plus(1).max(t), t.plus(1));
        assert_eq!(t.plus(90).seconds_since(t), 90);
        assert_eq!(t.seconds_since(t.plus(90)), -90);
        assert_eq!(t.to_string(), "1700000000");
        assert_eq!(UnixTime::from_secs(i64::MAX).plus(1).as_secs(), i64::MAX);
        assert_eq!(UnixTime::from_secs(i64::MIN).plus(-1).as_secs(), i64::MIN);
    }

    #[test]
    fn unix_time_now_is_the_clock() {
        let before = crate::util::clock::now_unix();
        let now = UnixTime::now().as_secs();
        let after = crate::util::clock::now_unix();
        assert!(before <= now && now <= after);
    }

    #[test]
    fn unix_time_serializes_as_a_bare_number() {
        let t = UnixTime::from_secs(42);
        assert_eq!(serde_json::to_string(&t).expect("serializes"), "42");
        let back: UnixTime = serde_json::from_str("42").expect("parses");
        assert_eq!(back, t);
        assert!(serde_json::from_str::<UnixTime>("\"42\"").is_err());
    }

    #[test]
    fn client_id_is_non_empty_without_a_colon() {
        let id = ClientId::new("auth0").expect("valid");
        assert_eq!(id.as_str(), "auth0");
        assert_eq!(id.to_string(), "auth0");
        assert_eq!(format!("{id:?}"), "ClientId(\"auth0\")");
        assert_eq!(id, "auth0");
        assert_eq!(ClientId::new(""), Err(TypeError::ClientId));
        assert_eq!(ClientId::new("a:b"), Err(TypeError::ClientId));
        // Exact: no case folding, no trimming.
        assert_ne!(ClientId::new("Auth0").expect("valid"), id);
        assert_ne!(ClientId::new("auth0 ").expect("valid"), id);
    }

    #[test]
    fn subject_is_non_empty() {
        let s = Subject::new("alice").expect("valid");
        assert_eq!(s.as_str(), "alice");
        assert_eq!(s.to_string(), "alice");
        assert_eq!(format!("{s:?}"), "Subject(\"alice\")");
        assert_eq!(Subject::new(""), Err(TypeError::Subject));
    }

    #[test]
    fn redirect_uri_is_absolute_without_a_fragment() {
        let uri = RedirectUri::parse("https://tenant.example/login/callback").expect("valid");
        assert_eq!(uri.as_str(), "https://tenant.example/login/callback");
        assert_eq!(uri.to_string(), "https://tenant.example/login/callback");
        assert!(RedirectUri::parse("http://127.0.0.1:8080/cb?x=1").is_ok());
        assert!(matches!(
            RedirectUri::parse("/login/callback"),
            Err(TypeError::NotAbsoluteUrl(_))
        ));
        assert!(matches!(
            RedirectUri::parse(""),
            Err(TypeError::NotAbsoluteUrl(_))
        ));
        assert_eq!(
            RedirectUri::parse("https://a.example/cb#x"),
            Err(TypeError::Fragment)
        );
        assert_eq!(
            RedirectUri::parse("https://a.example/cb#"),
            Err(TypeError::Fragment)
        );
        assert_eq!(
            TypeError::Fragment.to_string(),
            "must not have a fragment (RFC 6749 §3.1.2)"
        );
    }

    #[test]
    fn redirect_uri_is_never_normalized() {
        // Each of these is the same URL to a parser, and a different
        // redirect URI to OAuth (simple string comparison).
        let exact = RedirectUri::parse("https://a.example/cb").expect("valid");
        for other in [
            "HTTPS://A.EXAMPLE/cb",
            "https://a.example:443/cb",
            "https://a.example/./cb",
            "https://a.example/cb?",
            "https://a.example/%63b",
        ] {
            let uri = RedirectUri::parse(other).expect("valid");
            assert_eq!(uri.as_str(), other, "kept as given");
            assert_ne!(uri, exact, "{other} is not {exact}");
        }
        assert_eq!(
            exact.to_url().map(String::from).as_deref(),
            Some("https://a.example/cb")
        );
    }

    #[test]
    fn string_types_serialize_bare_and_parse_through_their_rule() {
        let id = ClientId::new("c").expect("valid");
        assert_eq!(serde_json::to_string(&id).expect("serializes"), "\"c\"");
        assert_eq!(
            serde_json::from_str::<ClientId>("\"c\"").expect("parses"),
            id
        );
        assert!(serde_json::from_str::<ClientId>("\"a:b\"").is_err());
        assert!(serde_json::from_str::<Subject>("\"\"").is_err());
        assert!(serde_json::from_str::<RedirectUri>("\"https://a.example/#f\"").is_err());
        let uri: RedirectUri = serde_json::from_str("\"HTTPS://A.example/cb\"").expect("parses");
        assert_eq!(uri.as_str(), "HTTPS://A.example/cb");
    }

    #[test]
    fn a_refused_string_says_what_was_expected_and_why() {
        let said = |r: Result<ClientId, serde_json::Error>| r.err().map(|e| e.to_string());
        let id = said(serde_json::from_str("\"a:b\""));
        assert!(
            id.as_deref().is_some_and(|m| m.starts_with(
                "invalid value: string \"a:b\", expected a client id (must be non-empty"
            )),
            "{id:?}"
        );
        let uri = serde_json::from_str::<RedirectUri>("\"https://a.example/#f\"")
            .err()
            .map(|e| e.to_string());
        assert!(
            uri.as_deref().is_some_and(|m| m
                .contains("expected an absolute URL (must not have a fragment (RFC 6749 §3.1.2))")),
            "{uri:?}"
        );
        let relative = serde_json::from_str::<RedirectUri>("\"not a url\"")
            .err()
            .map(|e| e.to_string());
        assert!(
            relative.as_deref().is_some_and(
                |m| m.contains("expected an absolute URL (relative URL without a base)")
            ),
            "{relative:?}"
        );
        assert!(serde_json::from_str::<Subject>("\"\"").is_err());
        let number = said(serde_json::from_str("7")).unwrap_or_default();
        assert!(
            number.starts_with("invalid type: integer `7`, expected a client id (a string)"),
            "{number}"
        );
    }
}
