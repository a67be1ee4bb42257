//! Client authentication (RFC 6749 §2.3, OIDC Core §9) for the token,
//! revocation and introspection endpoints: `client_secret_post`,
//! `client_secret_basic` (form-urlencoded before base64, RFC 6749 §2.3.1;
//! the same credentials in both places are accepted, different ones are
//! not) and `private_key_jwt` (RFC 7523), one method per request. Secrets
//! are compared by SHA-256 in constant time; every failure is
//! `invalid_client`, with a Basic challenge when Basic was used.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use serde_json::Value;
use subtle::ConstantTimeEq;

use super::error::OAuthError;
use super::form::FormParams;
use crate::domain::config::{AuthMethod, Client, Settings};
use crate::domain::metrics::Metrics;
use crate::domain::store::OnceStore;
use crate::domain::types::UnixTime;
use crate::util::crypto::{b64url, sha256};
use crate::util::refusal::shown;

/// What client authentication reads: the registered clients, the issuer
/// (an assertion's audience), where an assertion's `jti` is spent, and the
/// audit counters.
#[derive(Debug)]
pub struct ClientAuth<'a, S: ?Sized> {
    /// Clients by id.
    pub clients: &'a BTreeMap<String, Client>,
    /// The issuer, without a trailing slash.
    pub issuer: &'a str,
    /// Spends each assertion's `jti` once.
    pub store: &'a S,
    /// Audit counters.
    pub metrics: &'a Metrics,
}

impl<'a, S: ?Sized> ClientAuth<'a, S> {
    /// Over the configured clients and issuer, `store` and `metrics`.
    pub fn new(settings: &'a Settings, store: &'a S, metrics: &'a Metrics) -> Self {
        Self {
            clients: &settings.clients,
            issuer: &settings.issuer,
            store,
            metrics,
        }
    }
}

/// Authenticates the client from the Basic header and/or the form, at
/// `now` (an assertion's `exp`).
/// RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64.
/// The same credentials in both places are accepted; different ones are not.
pub async fn authenticate_client<'a, S: OnceStore + ?Sized>(
    auth: &ClientAuth<'a, S>,
    headers: &HeaderMap,
    form: &FormParams,
    now: UnixTime,
) -> Result<&'a Client, OAuthError> {
    if form.contains("client_assertion_type") || form.contains("client_assertion") {
        // RFC 6749 §2.3: one authentication method per request.
        if headers.contains_key(header::AUTHORIZATION) || form.contains("client_secret") {
            return Err(OAuthError::invalid_client(
                false,
                "a client assertion and a client secret in one request (RFC 6749 §2.3: one method)",
            ));
        }
        return assertion_client(auth, form, now).await;
    }
    secret_client(headers, form, auth.clients)
}

/// `client_secret_basic` and `client_secret_post`.
pub fn secret_client<'a>(
    headers: &HeaderMap,
    form: &FormParams,
    clients: &'a BTreeMap<String, Client>,
) -> Result<&'a Client, OAuthError> {
    let from_basic = basic_credentials(headers)?;
    let basic_used = from_basic.is_some();
    let from_form = form
        .get("client_secret")
        .map(|s| (form.get("client_id").unwrap_or("").to_owned(), s.to_owned()));
    let (id, secret, method) = match (from_basic, from_form) {
        (Some(b), Some(f)) => {
            let same = b.0 == f.0 && bool::from(b.1.as_bytes().ct_eq(f.1.as_bytes()));
            if !same {
                return Err(OAuthError::invalid_client(
                    true,
                    format!(
                        "different credentials in the Basic header (client {}) and the form (client {})",
                        shown(&b.0),
                        shown(&f.0)
                    ),
                ));
            }
            (b.0, b.1, AuthMethod::ClientSecretBasic)
        }
        (Some(b), None) => {
            if let Some(id) = form.get("client_id").filter(|id| *id != b.0) {
                return Err(OAuthError::invalid_client(
                    true,
                    format!(
                        "the form's client_id {} is not the Basic header's {}",
                        shown(id),
                        shown(&b.0)
                    ),
                ));
            }
            (b.0, b.1, AuthMethod::ClientSecretBasic)
        }
        (None, Some(f)) => (f.0, f.1, AuthMethod::ClientSecretPost),
        (None, None) => {
            return Err(OAuthError::invalid_client(
                false,
                "no client credentials (no Basic header, client_secret or client_assertion)",
            ));
        }
    };
    let client = clients.get(&id).ok_or_else(|| {
        let registered: Vec<String> = clients.keys().map(|k| shown(k)).collect();
        OAuthError::invalid_client(
            basic_used,
            format!(
                "client_id {} is not registered (registered: {})",
                shown(&id),
                registered.join(", ")
            ),
        )
    })?;
    let secret_ok: bool = client
        .secret_sha256
        .is_some_and(|expected| sha256(secret.as_bytes()).ct_eq(&expected).into());
    // Both methods are checked in full even when one is not allowed, so the
    // answer time does not tell which was wrong.
    let method_ok = client.auth_methods.contains(&method);
    if !secret_ok || !method_ok {
        let why = secret_refusal(client, secret_ok, method);
        return Err(OAuthError::invalid_client(
            basic_used,
            format!("client {} {why}", shown(client.id.as_str())),
        ));
    }
    Ok(client)
}

/// The id and secret of a Basic `Authorization` header, each
/// form-urlencoded before base64 (RFC 6749 §2.3.1); `None` without one.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(encoded) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split_once(' ')
                .filter(|(s, _)| s.eq_ignore_ascii_case("basic"))
                .map(|(_, c)| c.trim().to_owned())
        })
    else {
        return Ok(None);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .and_then(|d| String::from_utf8(d).ok())
        .ok_or_else(|| {
            OAuthError::invalid_client(true, "the Basic credentials are not base64 of UTF-8")
        })?;
    let (id, secret) = decoded.split_once(':').ok_or_else(|| {
        OAuthError::invalid_client(
            true,
            "the Basic credentials have no ':' between id and secret",
        )
    })?;
    let decode = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((decode(id), decode(secret))))
}

/// Which secret check failed, for the log (the secret itself never).
fn secret_refusal(client: &Client, secret_ok: bool, method: AuthMethod) -> String {
    if !secret_ok && client.secret_sha256.is_none() {
        "has no client secret configured".to_owned()
    } else if !secret_ok {
        "sent a wrong client secret".to_owned()
    } else {
        let allowed: Vec<&str> = client.auth_methods.iter().map(|m| m.as_str()).collect();
        format!(
            "may not use {} (allowed: {})",
            method.as_str(),
            allowed.join(", ")
        )
    }
}

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// `private_key_jwt` (RFC 7523 §2.2, OIDC Core §9): a JWT signed with the
/// client's key (RS256, PS256 or ES256), `iss` = `sub` = the client id, `aud`
/// the token endpoint or the issuer, `exp` at most 60 s ahead, and a `jti`
/// used once.
async fn assertion_client<'a, S: OnceStore + ?Sized>(
    auth: &ClientAuth<'a, S>,
    form: &FormParams,
    now: UnixTime,
) -> Result<&'a Client, OAuthError> {
    use jsonwebtoken::Algorithm;
    let fail = |why: &str| OAuthError::invalid_client(false, format!("private_key_jwt: {why}"));
    if form.get("client_assertion_type") != Some(ASSERTION_TYPE) {
        return Err(fail("client_assertion_type is not jwt-bearer (RFC 7523)"));
    }
    let jwt = form
        .get("client_assertion")
        .ok_or_else(|| fail("no client_assertion"))?;
    let header =
        jsonwebtoken::decode_header(jwt).map_err(|_| fail("the assertion is not a JWT"))?;
    let ec = match header.alg {
        Algorithm::RS256 | Algorithm::PS256 => false,
        Algorithm::ES256 => true,
        other => {
            return Err(fail(&format!(
                "algorithm {other:?} is not RS256, PS256 or ES256"
            )));
        }
    };
    // The client is named by client_id, or else by the assertion's issuer
    // (read unverified only to pick the keys to verify it with).
    let unverified_iss = jwt
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|c| c["iss"].as_str().map(str::to_owned));
    let client_id = form
        .get("client_id")
        .map(str::to_owned)
        .or(unverified_iss)
        .ok_or_else(|| fail("no client_id and no iss in the assertion"))?;
    let client = auth.clients.get(&client_id).ok_or_else(|| {
        fail(&format!(
            "client_id {} is not registered",
            shown(&client_id)
        ))
    })?;
    if !client.auth_methods.contains(&AuthMethod::PrivateKeyJwt) {
        return Err(fail(&format!(
            "client {} may not use private_key_jwt",
            shown(client.id.as_str())
        )));
    }
    let issuer = auth.issuer;
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_issuer(&[&client.id]);
    validation.sub = Some(client.id.to_string());
    validation.set_audience(&[format!("{issuer}/token"), issuer.to_owned()]);
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.leeway = 5;
    let claims = client
        .assertion_keys
        .iter()
        .filter(|k| k.ec == ec)
        .filter(|k| header.kid.is_none() || k.kid.is_none() || k.kid == header.kid)
        .find_map(|k| jsonwebtoken::decode::<Value>(jwt, &k.key, &validation).ok())
        .ok_or_else(|| {
            fail(&format!(
                "client {}: no registered key verifies the assertion with iss = sub = the client, \
                 aud = the token endpoint or the issuer, and exp in the future",
                shown(client.id.as_str())
            ))
        })?
        .claims;
    let exp = claims["exp"]
        .as_i64()
        .ok_or_else(|| fail("exp is not a number"))?;
    if exp > now.plus(60).as_secs() {
        return Err(fail(&format!(
            "exp is {} s ahead; at most 60 s is accepted",
            exp - now.as_secs()
        )));
    }
    let jti = claims["jti"]
        .as_str()
        .filter(|j| !j.is_empty())
        .ok_or_else(|| fail("no jti"))?;
    let key = format!("{}:{}", client.id, b64url(&sha256(jti.as_bytes())));
    if !auth.store.use_assertion(&key, exp + 60).await? {
        crate::audit_warn!(auth.metrics, "client_assertion_replay", "a client assertion was replayed", client_id = %client.id);
        return Err(fail("the assertion's jti was used before (replay)"));
    }
    Ok(client)
}
