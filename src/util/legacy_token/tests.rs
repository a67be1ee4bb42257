//! The codec's unit tests: encoding, integers, claims, key sets, minting.

use super::*;

fn keys() -> Lt1Keys {
    Lt1Keys::new(vec![("k1".into(), Key32::new([1; 32]))], None).expect("keys")
}

#[test]
fn plaintext_follows_whatwg_form_encoding() {
    let claims = Lt1Claims {
        sub: "a b".into(),
        iat: 1,
        exp: 2,
        scope: Some("x y".into()),
        attributes: vec![
            ("email".into(), "a@b.c".into()),
            ("n".into(), "*-._~".into()),
        ],
    };
    assert_eq!(
        claims.to_plaintext(),
        "sub=a+b&iat=1&exp=2&scope=x+y&email=a%40b.c&n=*-._%7E"
    );
}

#[test]
fn integers_must_be_plain_decimal() {
    assert_eq!(parse_int("12", "exp"), Ok(12));
    assert_eq!(parse_int("-3", "exp"), Ok(-3));
    for bad in ["", "+1", "1e3", " 1", "0x10", "-", "99999999999999999999"] {
        assert_eq!(
            parse_int(bad, "exp"),
            Err(Lt1Error::NotInteger("exp")),
            "{bad:?}"
        );
    }
}

#[test]
fn empty_claim_name_is_malformed() {
    assert_eq!(
        parse_claims(b"=x&sub=a").unwrap_err(),
        Lt1Error::MalformedClaims
    );
}

#[test]
fn percent_encoded_invalid_utf8_is_rejected() {
    assert_eq!(parse_claims(b"sub=%FF").unwrap_err(), Lt1Error::NotUtf8);
}

#[test]
fn key_set_rejects_bad_configuration() {
    assert_eq!(Lt1Keys::new(vec![], None).unwrap_err(), Lt1KeysError::Empty);
    let k = || Key32::new([0; 32]);
    assert_eq!(
        Lt1Keys::new(vec![("a.b".into(), k())], None).unwrap_err(),
        Lt1KeysError::BadKid("a.b".into())
    );
    assert_eq!(
        Lt1Keys::new(vec![("a".into(), k()), ("a".into(), k())], None).unwrap_err(),
        Lt1KeysError::DuplicateKid("a".into())
    );
    assert_eq!(
        Lt1Keys::new(vec![("a".into(), k())], Some("b")).unwrap_err(),
        Lt1KeysError::UnknownMintKid("b".into())
    );
}

#[test]
fn a_claim_is_never_minted_twice() {
    let keys = keys();
    let with = |attributes: Vec<(&str, &str)>| Lt1Claims {
        sub: "alice".into(),
        iat: 100,
        exp: 200,
        scope: Some("orders".into()),
        attributes: attributes
            .into_iter()
            .map(|(n, v)| (n.into(), v.into()))
            .collect(),
    };
    for reserved in RESERVED_CLAIMS {
        assert_eq!(
            keys.mint(&with(vec![(reserved, "mallory")])),
            Err(Lt1Error::DuplicateClaim),
            "{reserved}"
        );
    }
    assert_eq!(
        keys.mint(&with(vec![("realm", "a"), ("realm", "b")])),
        Err(Lt1Error::DuplicateClaim)
    );
    assert_eq!(
        keys.mint(&with(vec![("", "a")])),
        Err(Lt1Error::MalformedClaims)
    );
    let fine = keys.mint(&with(vec![("realm", "corp")])).expect("mint");
    assert_eq!(
        keys.validate(&fine, 150).map(|c| c.attributes),
        Ok(vec![("realm".into(), "corp".into())])
    );
}

#[test]
fn minted_tokens_validate_and_never_repeat() {
    let keys = keys();
    let claims = Lt1Claims {
        sub: "alice".into(),
        iat: 100,
        exp: 200,
        scope: None,
        attributes: vec![],
    };
    let a = keys.mint(&claims).expect("mint");
    let b = keys.mint(&claims).expect("mint");
    assert_ne!(a, b, "each token has a fresh nonce");
    assert_eq!(keys.validate(&a, 150), Ok(claims));
    assert_eq!(kid_of(&a), Some("k1"));
}
