//! `private_key_jwt` client authentication (RFC 7523, OIDC Core §9): RS256,
//! PS256 and ES256 assertions, audience, lifetime and single-use `jti`.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::KeyPair as _;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::json;

use crate::support::{AUTH0_CALLBACK, TestApp};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

struct Keys {
    rsa: EncodingKey,
    ec: EncodingKey,
    other_rsa: EncodingKey,
    jwks: String,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn rsa_key() -> (EncodingKey, rsa::RsaPublicKey) {
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("rsa");
    let der = key.to_pkcs1_der().expect("der");
    (
        EncodingKey::from_rsa_der(der.as_bytes()),
        key.to_public_key(),
    )
}

fn keys() -> Keys {
    let (rsa, public) = rsa_key();
    let (other_rsa, _) = rsa_key();
    let rng = ring::rand::SystemRandom::new();
    let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("ec");
    let pair =
        ring::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).expect("ec pair");
    let point = pair.public_key().as_ref();
    let jwks = json!({"keys": [
        {"kty": "RSA", "kid": "r1", "n": b64(&public.n().to_bytes_be()), "e": b64(&public.e().to_bytes_be())},
        {"kty": "EC", "kid": "e1", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])},
    ]});
    Keys {
        rsa,
        ec: EncodingKey::from_ec_der(pkcs8.as_ref()),
        other_rsa,
        jwks: jwks.to_string(),
    }
}

async fn app(keys: &Keys) -> TestApp {
    let client = format!(
        "\n[[clients]]\nid = \"jwt-client\"\nredirect_uris = [\"{AUTH0_CALLBACK}\"]\ntoken_endpoint_auth_methods = [\"private_key_jwt\"]\njwks = '{}'\n",
        keys.jwks
    );
    TestApp::spawn_edited("", |_| {}, move |text| text + &client).await
}

fn assertion(
    app: &TestApp,
    key: &EncodingKey,
    alg: Algorithm,
    kid: &str,
    aud: &str,
    exp_in: i64,
    jti: &str,
) -> String {
    let now = idp_bridge::util::clock::now_unix();
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    let aud = if aud == "token" {
        format!("{}/token", app.issuer)
    } else {
        aud.to_owned()
    };
    let claims = json!({"iss": "jwt-client", "sub": "jwt-client", "aud": aud, "exp": now + exp_in, "iat": now, "jti": jti});
    jsonwebtoken::encode(&header, &claims, key).expect("sign")
}

async fn redeem_with(app: &TestApp, assertion: &str, extra: &[(&str, &str)]) -> u16 {
    let params: Vec<(String, String)> = vec![
        ("response_type".into(), "code".into()),
        ("client_id".into(), "jwt-client".into()),
        ("redirect_uri".into(), AUTH0_CALLBACK.into()),
        ("scope".into(), "openid".into()),
    ];
    let code = app.login(&params).await.code();
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", AUTH0_CALLBACK),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
    ];
    form.extend_from_slice(extra);
    app.token(&form).await.status().as_u16()
}

#[tokio::test]
async fn rs256_ps256_and_es256_assertions_authenticate_the_client() {
    let keys = keys();
    let app = app(&keys).await;
    let rs = assertion(&app, &keys.rsa, Algorithm::RS256, "r1", "token", 50, "j-rs");
    assert_eq!(redeem_with(&app, &rs, &[]).await, 200);
    let ps = assertion(
        &app,
        &keys.rsa,
        Algorithm::PS256,
        "r1",
        &app.issuer,
        50,
        "j-ps",
    );
    assert_eq!(
        redeem_with(&app, &ps, &[("client_id", "jwt-client")]).await,
        200,
        "aud may be the issuer"
    );
    let es = assertion(&app, &keys.ec, Algorithm::ES256, "e1", "token", 50, "j-es");
    assert_eq!(redeem_with(&app, &es, &[]).await, 200);
    let discovery =
        crate::support::get_json(&format!("{}/.well-known/openid-configuration", app.issuer)).await;
    assert!(
        discovery["token_endpoint_auth_methods_supported"]
            .as_array()
            .expect("array")
            .contains(&"private_key_jwt".into())
    );
}

#[tokio::test]
async fn bad_assertions_are_invalid_client() {
    let keys = keys();
    let app = app(&keys).await;
    let used = assertion(&app, &keys.rsa, Algorithm::RS256, "r1", "token", 50, "once");
    assert_eq!(redeem_with(&app, &used, &[]).await, 200);
    assert_eq!(
        redeem_with(&app, &used, &[]).await,
        401,
        "a jti is single-use"
    );
    let cases = [
        (
            "wrong audience",
            assertion(
                &app,
                &keys.rsa,
                Algorithm::RS256,
                "r1",
                "https://elsewhere.example.com",
                50,
                "a1",
            ),
        ),
        (
            "too long-lived",
            assertion(&app, &keys.rsa, Algorithm::RS256, "r1", "token", 600, "a2"),
        ),
        (
            "expired",
            assertion(&app, &keys.rsa, Algorithm::RS256, "r1", "token", -120, "a3"),
        ),
        (
            "someone else's key",
            assertion(
                &app,
                &keys.other_rsa,
                Algorithm::RS256,
                "r1",
                "token",
                50,
                "a4",
            ),
        ),
        (
            "HS256",
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &json!({"iss": "jwt-client"}),
                &EncodingKey::from_secret(b"x"),
            )
            .expect("sign"),
        ),
    ];
    for (what, jwt) in &cases {
        assert_eq!(redeem_with(&app, jwt, &[]).await, 401, "{what}");
    }
    let fresh = assertion(&app, &keys.rsa, Algorithm::RS256, "r1", "token", 50, "a5");
    assert_eq!(
        redeem_with(&app, &fresh, &[("client_secret", "whatever-secret-123")]).await,
        401,
        "one method per request"
    );
}
