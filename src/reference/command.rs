//! The reference implementation of the `command` adapter's contract
//! (`idp-bridge reference legacy-command`): reads one JSON request on stdin,
//! checks it against a users file, and writes one JSON answer on stdout.
//! Stateless: its refresh tokens are LT1 tokens marked `typ=refresh`.

use std::io::{Read, Write};

use serde_json::{Value, json};

use super::users::{User, Users};
use crate::domain::upstream::command::{EXIT_INVALID_CREDENTIALS, EXIT_LOCKED};
use crate::util::clock::now_unix;
use crate::util::legacy_token::{Lt1Claims, Lt1Keys};

const ACCESS_TTL: i64 = 3600;
const REFRESH_TTL: i64 = 30 * 86_400;

/// Runs one request from `input` and writes the answer to `output`; returns
/// the process exit code.
pub fn run(users: &Users, keys: &Lt1Keys, input: &mut impl Read, output: &mut impl Write) -> i32 {
    let mut text = String::new();
    if input.take(1 << 20).read_to_string(&mut text).is_err() {
        return 64;
    }
    let Ok(request) = serde_json::from_str::<Value>(&text) else {
        return 65;
    };
    let field = |name: &str| {
        request
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let answer = match field("action").as_str() {
        "authenticate" => match users.verify(&field("username"), &field("password")) {
            None => return EXIT_INVALID_CREDENTIALS,
            Some(user) if user.locked => return EXIT_LOCKED,
            Some(user) => grant(keys, user),
        },
        "renew" => match keys.validate(&field("refresh_token"), now_unix()) {
            Ok(claims) if claims.attribute("typ") == Some("refresh") => {
                match users.get(&claims.sub) {
                    Some(user) if !user.locked => grant(keys, user),
                    Some(_) => return EXIT_LOCKED,
                    None => return EXIT_INVALID_CREDENTIALS,
                }
            }
            _ => return EXIT_INVALID_CREDENTIALS,
        },
        "profile" => match keys.validate(&field("access_token"), now_unix()) {
            Ok(claims) => match users.by_sub(&claims.sub) {
                Some(user) => Some(json!({"status": "ok", "profile": profile(user)})),
                None => return EXIT_INVALID_CREDENTIALS,
            },
            Err(_) => return EXIT_INVALID_CREDENTIALS,
        },
        // A token for a user without their password (token exchange).
        "mint" => match users.by_sub(&field("subject")) {
            Some(user) if !user.locked => grant(keys, user),
            Some(_) => return EXIT_LOCKED,
            None => return EXIT_INVALID_CREDENTIALS,
        },
        _ => Some(json!({"status": "unsupported"})),
    };
    match answer {
        Some(answer) if writeln!(output, "{answer}").is_ok() => 0,
        _ => 70,
    }
}

fn profile(user: &User) -> Value {
    let mut v = json!({"sub": user.sub, "email": user.email, "name": user.name});
    if let Value::Object(map) = &mut v {
        for (k, val) in &user.attributes {
            map.insert(k.clone(), Value::String(val.clone()));
        }
    }
    v
}

fn grant(keys: &Lt1Keys, user: &User) -> Option<Value> {
    let now = now_unix();
    let access = Lt1Claims {
        sub: user.sub.clone(),
        iat: now,
        exp: now + ACCESS_TTL,
        scope: None,
        attributes: user
            .email
            .iter()
            .map(|e| ("email".to_owned(), e.clone()))
            .collect(),
    };
    let refresh = Lt1Claims {
        sub: user.username.clone(),
        iat: now,
        exp: now + REFRESH_TTL,
        scope: None,
        attributes: vec![("typ".into(), "refresh".into())],
    };
    Some(json!({
        "status": "ok",
        "access_token": keys.mint(&access).ok()?,
        "expires_in": ACCESS_TTL,
        "refresh_token": keys.mint(&refresh).ok()?,
        "profile": profile(user),
    }))
}
