//! The LT1 codec against the known-answer vectors (copied from the project's
//! shared reference into `tests/e2e/vectors/lt1.json`), plus round trips.

use idp_bridge::util::legacy_token::{Lt1Claims, Lt1Error, Lt1Keys};
use idp_bridge::util::secret::Key32;
use proptest::prelude::*;
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/lt1.json")).expect("vectors parse")
}

fn keys(v: &Value) -> Lt1Keys {
    let keys = v["keys"]
        .as_object()
        .expect("keys")
        .iter()
        .map(|(kid, hex)| {
            (
                kid.clone(),
                Key32::parse(hex.as_str().expect("hex")).expect("key"),
            )
        })
        .collect();
    Lt1Keys::new(keys, None)
        .expect("key set")
        .with_leeway(v["leeway_seconds"].as_i64().expect("leeway"))
}

#[test]
fn every_valid_vector_decodes_to_its_claims() {
    let v = vectors();
    let keys = keys(&v);
    let now = v["now"].as_i64().expect("now");
    let valid = v["valid"].as_array().expect("valid");
    assert_eq!(valid.len(), 3);
    for case in valid {
        let name = case["name"].as_str().expect("name");
        let claims = keys
            .validate(case["token"].as_str().expect("token"), now)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected: std::collections::BTreeMap<String, String> =
            serde_json::from_value(case["claims"].clone()).expect("claims");
        assert_eq!(claims.to_map(), expected, "{name}");
        assert_eq!(
            claims.to_plaintext(),
            case["plaintext"].as_str().expect("plaintext"),
            "{name}"
        );
    }
}

#[test]
fn every_valid_vector_reencodes_byte_for_byte_with_its_nonce() {
    use base64::Engine as _;
    let v = vectors();
    let keys = keys(&v);
    let now = v["now"].as_i64().expect("now");
    for case in v["valid"].as_array().expect("valid") {
        let token = case["token"].as_str().expect("token");
        let mut parts = token.splitn(3, '.');
        let (_, kid, payload) = (
            parts.next(),
            parts.next().expect("kid"),
            parts.next().expect("payload"),
        );
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("b64");
        let nonce: [u8; 12] = bytes[..12].try_into().expect("nonce");
        let claims = keys.validate(token, now).expect("valid");
        let again = keys.seal(kid, &claims.to_plaintext(), nonce).expect("seal");
        assert_eq!(again, token, "{}", case["name"]);
    }
}

#[test]
fn every_invalid_vector_fails_with_its_own_error() {
    let v = vectors();
    let keys = keys(&v);
    let now = v["now"].as_i64().expect("now");
    let expected = |name: &str| match name {
        "tampered-tag" | "kid-swapped" => Lt1Error::BadTag,
        "unknown-kid" => Lt1Error::UnknownKid,
        "wrong-prefix" | "jwt-shaped" | "empty" => Lt1Error::NotLt1,
        "expired" => Lt1Error::Expired,
        "issued-in-future" => Lt1Error::IssuedInFuture,
        "missing-sub" => Lt1Error::MissingClaim("sub"),
        "missing-exp" => Lt1Error::MissingClaim("exp"),
        "duplicate-sub" => Lt1Error::DuplicateClaim,
        "non-numeric-exp" => Lt1Error::NotInteger("exp"),
        "not-utf8" => Lt1Error::NotUtf8,
        "bad-base64" => Lt1Error::NotBase64url,
        "padded-base64" => Lt1Error::PaddedPayload,
        "too-short" => Lt1Error::TooShort,
        "oversize" => Lt1Error::TooLong,
        other => panic!("a vector this test does not know: {other}"),
    };
    let invalid = v["invalid"].as_array().expect("invalid");
    assert_eq!(invalid.len(), 17);
    for case in invalid {
        let name = case["name"].as_str().expect("name");
        let got = keys.validate(case["token"].as_str().expect("token"), now);
        assert_eq!(got, Err(expected(name)), "{name}: {}", case["reason"]);
        let message = expected(name).to_string();
        assert!(!message.contains("000102"), "no key material in {message}");
    }
}

#[test]
fn a_token_under_a_retired_key_fails_once_the_key_is_removed() {
    let v = vectors();
    let both = keys(&v);
    let now = v["now"].as_i64().expect("now");
    let token = v["valid"][0]["token"].as_str().expect("token"); // k2024
    assert!(both.validate(token, now).is_ok());
    let only_new = Lt1Keys::new(
        vec![(
            "k2025".into(),
            Key32::parse(v["keys"]["k2025"].as_str().expect("k")).expect("key"),
        )],
        None,
    )
    .expect("keys");
    assert_eq!(only_new.validate(token, now), Err(Lt1Error::UnknownKid));
}

fn claim_text() -> impl Strategy<Value = String> {
    // Any Unicode, including the characters form encoding must escape.
    proptest::string::string_regex("[\\PC &=+%/.*~-]{0,40}").expect("regex")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn minted_tokens_validate_to_the_same_claims(
        sub in "[^\u{0}]{1,30}",
        iat in 0i64..4_000_000_000,
        ttl in 0i64..1_000_000,
        scope in proptest::option::of(claim_text()),
        attrs in proptest::collection::btree_map("[a-z_][a-z0-9_]{0,12}", claim_text(), 0..6),
    ) {
        let attrs: Vec<(String, String)> = attrs
            .into_iter()
            .filter(|(k, _)| !["sub", "iat", "exp", "scope"].contains(&k.as_str()))
            .collect();
        let keys = Lt1Keys::new(vec![("p".into(), Key32::new([9; 32]))], None).expect("keys");
        let claims = Lt1Claims { sub, iat, exp: iat + ttl, scope, attributes: attrs };
        let token = keys.mint(&claims).expect("mint");
        prop_assert!(token.len() <= 8192);
        prop_assert_eq!(keys.validate(&token, iat), Ok(claims));
    }

    #[test]
    fn arbitrary_input_never_panics_and_never_validates(input in "\\PC{0,300}") {
        let keys = Lt1Keys::new(vec![("p".into(), Key32::new([9; 32]))], None).expect("keys");
        prop_assert!(keys.validate(&input, 0).is_err());
        let forged = format!("LT1.p.{input}");
        prop_assert!(keys.validate(&forged, 0).is_err());
    }
}
