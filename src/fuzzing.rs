//! Entry points for the cargo-fuzz targets under `fuzz/` and for the test
//! that replays their seeds and every crash ever found
//! (`tests/e2e/fuzz_regressions.rs`), so both run exactly the same code.
//!
//! Each takes arbitrary bytes, feeds them to one parser that meets untrusted
//! input, and panics only when an invariant breaks — never because the
//! input was bad. Each returns whether the input was accepted, so the replay
//! test can show the seeds reach the accepting paths. Not part of the
//! supported API.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use bytes::Bytes;

use crate::browser::locale::Locale;
use crate::browser::pending::PendingLogin;
use crate::domain::config::{AuthMethod, Client, RefreshPolicy};
use crate::domain::types::UnixTime;
use crate::domain::types::{ClientId, RedirectUri};
use crate::domain::upstream::config::HttpAdapterConfig;
use crate::domain::upstream::fetch::Fetched;
use crate::domain::upstream::http::HttpIdp;
use crate::domain::upstream::pointer;
use crate::protocol::provider::form::FormParams;
use crate::protocol::provider::{authorize, claims, client_auth, token};
use crate::util::crypto::sha256;
use crate::util::legacy_token::{Lt1Error, Lt1Keys, kid_of, looks_like_lt1};
use crate::util::secret::Key32;

/// The time the fuzzed LT1 tokens are validated at (the vectors' `now`).
const LT1_NOW: i64 = 1_764_000_000;

fn lt1_keys() -> &'static Lt1Keys {
    static KEYS: OnceLock<Lt1Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        // The k2024 key of the LT1 known-answer vectors, so their tokens
        // make a corpus that reaches past decryption.
        let key: [u8; 32] = std::array::from_fn(|i| u8::try_from(i).unwrap_or(0));
        Lt1Keys::new(vec![("k2024".into(), Key32::new(key))], None)
            .expect("a valid key set")
            .with_leeway(60)
    })
}

/// LT1: the first byte picks the attack surface. Odd: the rest is a token
/// to validate (shape, base64, kid, decryption). Even: the rest is a
/// plaintext sealed under the key and then validated, so the claims parser
/// sees arbitrary input too. Whatever validates must mint again to a token
/// that validates to the same claims, unless its canonical encoding no
/// longer fits in a token.
pub fn lt1(data: &[u8]) -> bool {
    let Some((&selector, rest)) = data.split_first() else {
        return false;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return false;
    };
    let keys = lt1_keys();
    let token = if selector % 2 == 1 {
        let _ = (looks_like_lt1(text), kid_of(text));
        text.to_owned()
    } else {
        match keys.seal("k2024", text, [7; 12]) {
            Ok(token) => token,
            Err(_) => return false,
        }
    };
    let Ok(claims) = keys.validate(&token, LT1_NOW) else {
        return false;
    };
    match keys.mint(&claims) {
        Ok(again) => assert_eq!(
            keys.validate(&again, LT1_NOW)
                .expect("a minted token validates"),
            claims,
            "mint and validate round trip"
        ),
        // The decoder accepts any form-urlencoding, the encoder writes the
        // canonical one, which may be longer (raw control characters become
        // %XX): a token near the size limit may not fit when minted again.
        Err(e) => assert_eq!(e, Lt1Error::TooLong, "minting fails only for size"),
    }
    true
}

fn clients() -> &'static BTreeMap<String, Client> {
    static CLIENTS: OnceLock<BTreeMap<String, Client>> = OnceLock::new();
    CLIENTS.get_or_init(|| {
        let client = |id: &str, secret: &str, scopes: &[&str], pkce: bool| Client {
            id: ClientId::new(id).expect("a fixed client id"),
            secret_sha256: Some(sha256(secret.as_bytes())),
            assertion_keys: Vec::new(),
            redirect_uris: vec![
                RedirectUri::parse("https://tenant.auth0.com/login/callback").expect("fixed"),
                RedirectUri::parse("https://rp.example/cb?x=1").expect("fixed"),
            ],
            scopes: scopes.iter().map(|&s| s.to_owned()).collect(),
            require_pkce: pkce,
            auth_methods: vec![AuthMethod::ClientSecretBasic, AuthMethod::ClientSecretPost],
            refresh: RefreshPolicy::default(),
            post_logout_redirect_uris: Vec::new(),
            id_token_alg: crate::domain::keys::SigningAlg::RS256,
            exchange: None,
            validate_legacy_tokens: false,
        };
        [
            client(
                "a",
                "s3cret:with+special/chars&=%",
                &["openid", "profile", "email"],
                false,
            ),
            client("b", "b-secret", &["openid", "offline_access"], true),
        ]
        .into_iter()
        .map(|c| (c.id.to_string(), c))
        .collect()
    })
}

/// The authorization request: the bytes are a query string. Whatever is
/// accepted, or refused by redirect, names a registered redirect URI
/// exactly, echoes `state` byte for byte and grants no scope the client may
/// not have; the pending request survives sealing.
pub fn authorize_request(data: &[u8]) -> bool {
    let params: HashMap<String, String> = form_urlencoded::parse(data).into_owned().collect();
    let registered = |client: &str, uri: &str| {
        clients()
            .get(client)
            .is_some_and(|c| c.redirect_uris.iter().any(|r| r == uri))
    };
    let client_id = params.get("client_id").cloned().unwrap_or_default();
    if let Some(text) = params.get("claims") {
        let _ = claims::parse(text, &[]);
    }
    match authorize::validate(
        &authorize::AuthorizationParams::from_map(&params),
        clients(),
        UnixTime::EPOCH,
        600,
    ) {
        Ok(pending) => {
            assert!(registered(
                pending.client_id.as_str(),
                pending.redirect_uri.as_str()
            ));
            assert_eq!(pending.state, params.get("state").cloned());
            let allowed = &clients()[pending.client_id.as_str()].scopes;
            assert!(pending.scopes.iter().all(|s| allowed.contains(s)));
            let granted = [
                pending.claims.id_token.clone(),
                pending.claims.userinfo.clone(),
            ];
            assert!(granted.iter().flatten().all(|c| {
                allowed
                    .iter()
                    .any(|s| s == if c == "email" { "email" } else { "profile" })
            }));
            let sealed = PendingLogin {
                id: "fuzz".into(),
                request: pending.clone(),
                locale: Locale::default(),
            };
            let json = serde_json::to_vec(&sealed).expect("serializes");
            let back: PendingLogin = serde_json::from_slice(&json).expect("deserializes");
            assert_eq!(back.request.redirect_uri, pending.redirect_uri);
            true
        }
        Err(authorize::AuthorizeError::Redirect {
            redirect_uri,
            state,
            ..
        }) => {
            assert!(
                registered(&client_id, redirect_uri.as_str()),
                "never redirect elsewhere"
            );
            assert_eq!(state, params.get("state").cloned());
            false
        }
        Err(authorize::AuthorizeError::Page { .. }) => false,
    }
}

/// The token request: the bytes up to the first newline are the
/// `Authorization` header, the rest the form body. A client is
/// authenticated only with its own secret; PKCE checks never panic.
pub fn token_request(data: &[u8]) -> bool {
    let (auth, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    if let Ok(value) = HeaderValue::from_bytes(auth) {
        if !auth.is_empty() {
            headers.insert(header::AUTHORIZATION, value);
        }
    }
    let Ok(form) = FormParams::parse(&headers, body) else {
        return false;
    };
    let param = |k: &str| form.get(k);
    let _ = token::check_pkce(param("code_challenge"), param("code_verifier"));
    let Ok(client) = client_auth::secret_client(&headers, &form, clients()) else {
        return false;
    };
    let secret = match client.id.as_str() {
        "a" => "s3cret:with+special/chars&=%",
        _ => "b-secret",
    };
    assert!(
        param("client_secret") == Some(secret) || !auth.is_empty(),
        "authenticated without the secret: {:?}",
        String::from_utf8_lossy(data)
    );
    true
}

fn http_adapters() -> &'static [HttpIdp; 2] {
    static ADAPTERS: OnceLock<[HttpIdp; 2]> = OnceLock::new();
    ADAPTERS.get_or_init(|| {
        let json_shape = r#"
[login]
url = "http://127.0.0.1:9/login"
[response]
expires_in_pointer = "/expires_in"
refresh_token_pointer = "/refresh_token"
[claims]
subject = "/user/id"
email = "/user/email"
name = "/user/name"
extra = { roles = "/user/roles" }
"#;
        let header_shape = r#"
[login]
url = "http://127.0.0.1:9/login"
body = "form"
[response]
token = { header = "X-Legacy-Token" }
expires_at_header = "X-Legacy-Expires"
[claims]
subject = "/sub"
"#;
        [json_shape, header_shape].map(|text| {
            let config: HttpAdapterConfig = toml::from_str(text).expect("adapter config");
            HttpIdp::new(config, None).expect("adapter builds")
        })
    })
}

/// The http adapter's answer handling: the first byte picks the adapter
/// shape, the next two the status, then header lines up to an empty line,
/// then the body. A token accepted is non-empty and sendable as a header.
pub fn http_answer(data: &[u8]) -> bool {
    let [shape, hi, lo, rest @ ..] = data else {
        return false;
    };
    let adapter = &http_adapters()[usize::from(*shape % 2)];
    let status = 100 + u16::from_be_bytes([*hi, *lo]) % 500;
    let Ok(status) = reqwest::StatusCode::from_u16(status) else {
        return false;
    };
    let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => (&rest[..0], rest),
    };
    let mut headers = reqwest::header::HeaderMap::new();
    for line in head.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) {
            headers.append(name, value);
        }
    }
    let answer = Fetched {
        status,
        headers,
        body: Bytes::copy_from_slice(body),
    };
    let Ok((token, _expires_at, _refresh, json)) = adapter.read_answer(&answer) else {
        return false;
    };
    let token = token.secret();
    assert!(!token.is_empty());
    assert!(HeaderValue::from_str(&format!("Bearer {token}")).is_ok());
    json.is_some_and(|json| pointer::profile_from(&json, adapter.claims_config()).is_ok())
}
