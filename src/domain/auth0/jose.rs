//! The JOSE layer of an Auth0 access token, read before any key is
//! touched: the compact serialization, the header and the claims set
//! parsed strictly, and the header's rules. Signatures and claims are
//! [`super`]'s.
//!
//! - **No member name twice**, in the header or the claims set, at any
//!   depth. RFC 7515 §4 and RFC 7519 §4 let a recipient either reject such
//!   JSON or keep the lexically last member; keeping one means the same
//!   token reads one way here and another way in a parser that keeps the
//!   first (a `gty` given twice once slipped past the machine-to-machine
//!   check), so the bridge rejects, whatever the name.
//! - **No extension**: the bridge understands none, so a `crit` header
//!   (RFC 7515 §4.1.11: an unknown critical extension makes the JWS
//!   invalid; `[]` is forbidden; registered names must not be listed) and a
//!   `b64` header (RFC 7797 §7: a JWT never uses the unencoded payload
//!   option) are refused, whatever their value.
//! - `alg` is exactly `RS256` or `PS256` (never `none` or HS*, so a token
//!   "signed" with the public key as an HMAC secret fails here).
//! - `typ` is `JWT` (Auth0's own token profile) or `at+jwt` (its RFC 9068
//!   profile), compared without case and with or without `application/`
//!   (RFC 7515 §4.1.9). Auth0 sets `typ` under both profiles, so a token
//!   without one is not an Auth0 access token.
//! - `kid` is a string: the tenant's key is looked up by it.
//!
//! Key material a token carries about itself (`jwk`, `jku`, `x5u`, `x5c`)
//! is never read: keys come only from the tenant's JWKS.

use std::fmt;

use base64::Engine as _;
use jsonwebtoken::Algorithm;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Why the JOSE layer refused a token, in the order of the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum JoseError {
    /// Not a compact JWS of JSON objects.
    Malformed(&'static str),
    /// A member name twice, in the header or in the claims set.
    Duplicate(&'static str),
    /// An extension header parameter (`crit`, `b64`).
    Extension(&'static str),
    /// An `alg` other than RS256 or PS256.
    Algorithm,
    /// A missing `typ`, or one other than `JWT` or `at+jwt`.
    Type,
}

/// A token's header and claims, parsed and checked, not yet verified.
#[derive(Debug)]
pub(super) struct Unverified {
    /// RS256 or PS256.
    pub alg: Algorithm,
    /// The key id to look up in the tenant's JWKS.
    pub kid: String,
    /// The claims set.
    pub claims: Value,
}

/// Parses `token` and checks its header (see the module doc).
pub(super) fn parse(token: &str) -> Result<Unverified, JoseError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JoseError::Malformed("not a JWT"));
    };
    let header = object(header).map_err(|e| e.unwrap_or(JoseError::Malformed("header")))?;
    if header.contains_key("crit") {
        return Err(JoseError::Extension("crit"));
    }
    if header.contains_key("b64") {
        return Err(JoseError::Extension("b64"));
    }
    let alg = match header.get("alg").and_then(Value::as_str) {
        Some("RS256") => Algorithm::RS256,
        Some("PS256") => Algorithm::PS256,
        _ => return Err(JoseError::Algorithm),
    };
    if !header
        .get("typ")
        .and_then(Value::as_str)
        .is_some_and(auth0_typ)
    {
        return Err(JoseError::Type);
    }
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or(JoseError::Malformed("no kid"))?
        .to_owned();
    let claims = object(payload).map_err(|e| e.unwrap_or(JoseError::Malformed("payload")))?;
    Ok(Unverified {
        alg,
        kid,
        claims: Value::Object(claims),
    })
}

/// `JWT` or `at+jwt`, in any case, with or without `application/`.
fn auth0_typ(typ: &str) -> bool {
    let typ = typ.to_ascii_lowercase();
    let typ = typ.strip_prefix("application/").unwrap_or(&typ);
    typ == "jwt" || typ == "at+jwt"
}

/// A base64url JSON object, every member name once at every depth; `None`
/// when it is not one for another reason (the caller names the part).
fn object(part: &str) -> Result<Map<String, Value>, Option<JoseError>> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| None)?;
    match serde_json::from_slice::<Strict>(&bytes) {
        Ok(Strict(Value::Object(map))) => Ok(map),
        Err(e) if e.to_string().starts_with(DUPLICATE) => {
            Err(Some(JoseError::Duplicate("a member name appears twice")))
        }
        Ok(_) | Err(_) => Err(None),
    }
}

/// The start of the error a duplicate member raises.
const DUPLICATE: &str = "duplicate member";

/// A JSON value whose objects, at every depth, name each member once.
/// Names compare after unescaping, so `"g\u0074y"` is `gty`.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Strict, E> {
        Ok(Strict(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Strict, E> {
        Ok(Strict(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Strict, E> {
        Ok(Strict(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Strict, E> {
        Ok(Strict(v.into()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Strict, E> {
        Ok(Strict(Value::String(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Strict, E> {
        Ok(Strict(Value::String(v)))
    }
    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Strict(Value::Array(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.contains_key(&name) {
                return Err(de::Error::custom(format_args!("{DUPLICATE} `{name}`")));
            }
            let Strict(value) = map.next_value()?;
            members.insert(name, value);
        }
        Ok(Strict(Value::Object(members)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.c2ln", b64(header), b64(payload))
    }

    const HEADER: &str = r#"{"alg":"RS256","typ":"JWT","kid":"k1"}"#;

    #[test]
    fn a_well_formed_token_parses() {
        let parsed = parse(&token(HEADER, r#"{"sub":"a","n":[{"x":1}]}"#)).expect("parses");
        assert_eq!((parsed.alg, parsed.kid.as_str()), (Algorithm::RS256, "k1"));
        assert_eq!(parsed.claims["n"][0]["x"], 1);
    }

    #[test]
    fn duplicates_are_refused_at_any_depth_and_after_unescaping() {
        for payload in [
            r#"{"gty":"client-credentials","gty":"password"}"#,
            r#"{"gty":"a","g\u0074y":"b"}"#,
            r#"{"c":{"r":1,"r":2}}"#,
            r#"{"l":[1,{"a":1,"a":1}]}"#,
        ] {
            assert_eq!(
                parse(&token(HEADER, payload)).err(),
                Some(JoseError::Duplicate("a member name appears twice")),
                "{payload}"
            );
        }
        let header = r#"{"alg":"RS256","typ":"JWT","kid":"k1","x":1,"x":1}"#;
        assert!(matches!(
            parse(&token(header, "{}")),
            Err(JoseError::Duplicate(_))
        ));
    }

    #[test]
    fn extensions_algorithms_and_types_are_checked_in_order() {
        let case = |header: &str| parse(&token(header, "{}")).err();
        for extra in [r#""crit":["x"],"x":1"#, r#""crit":[]"#, r#""crit":null"#] {
            let header = format!(r#"{{"alg":"RS256","typ":"JWT","kid":"k1",{extra}}}"#);
            assert_eq!(case(&header), Some(JoseError::Extension("crit")), "{extra}");
        }
        assert_eq!(
            case(r#"{"alg":"RS256","typ":"JWT","kid":"k1","b64":true}"#),
            Some(JoseError::Extension("b64"))
        );
        for alg in ["none", "HS256", "rs256", "RS384", "ES256"] {
            let header = format!(r#"{{"alg":"{alg}","typ":"JWT","kid":"k1"}}"#);
            assert_eq!(case(&header), Some(JoseError::Algorithm), "{alg}");
        }
        for typ in [
            "JWT",
            "jwt",
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/JWT",
        ] {
            let header = format!(r#"{{"alg":"PS256","typ":"{typ}","kid":"k1"}}"#);
            assert_eq!(case(&header), None, "{typ}");
        }
        for typ in [r#""logout+jwt""#, r#""""#, "1", r#""application/""#] {
            let header = format!(r#"{{"alg":"PS256","typ":{typ},"kid":"k1"}}"#);
            assert_eq!(case(&header), Some(JoseError::Type), "{typ}");
        }
        assert_eq!(case(r#"{"alg":"PS256","kid":"k1"}"#), Some(JoseError::Type));
        assert_eq!(
            case(r#"{"alg":"PS256","typ":"JWT"}"#),
            Some(JoseError::Malformed("no kid"))
        );
    }

    #[test]
    fn what_is_not_a_compact_jws_of_objects_is_malformed() {
        for bad in [
            "a.b".to_owned(),
            "a.b.c.d".to_owned(),
            format!("{}.{}.s", b64("[]"), b64("{}")),
            format!("{}.{}.s", b64(HEADER), b64("[1]")),
            format!("{}.%%.s", b64(HEADER)),
        ] {
            assert!(matches!(parse(&bad), Err(JoseError::Malformed(_))), "{bad}");
        }
    }
}
