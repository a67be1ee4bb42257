//! The token endpoint (RFC 6749 §3.2, §4.1.3): client authentication by
//! `client_secret_post` or `client_secret_basic`, the `authorization_code`
//! grant with PKCE, and the answer: the legacy token verbatim as the
//! `access_token`, and an RS256 ID token when `openid` was granted.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;
use tracing::instrument;

use super::error::OAuthError;

use crate::app::AppState;
use crate::config::Client;
use crate::crypto::{b64url, sha256};
use crate::store::Redeemed;
use crate::upstream::now_unix;

/// Parses a form body, refusing repeated parameters (RFC 6749 §3.2).
pub fn parse_form(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, OAuthError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let mut map = Map::new();
    for (k, v) in form_urlencoded::parse(body) {
        if map
            .insert(k.to_string(), Value::String(v.into_owned()))
            .is_some()
        {
            return Err(OAuthError::invalid_request(format!(
                "the parameter {k} appears more than once"
            )));
        }
    }
    Ok(map)
}

fn param<'a>(form: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    form.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Authenticates the client from the Basic header and/or the form.
/// RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64.
/// The same credentials in both places are accepted; different ones are not.
pub async fn authenticate_client<'a>(
    state: &'a AppState,
    headers: &HeaderMap,
    form: &Map<String, Value>,
) -> Result<&'a Client, OAuthError> {
    if form.contains_key("client_assertion_type") || form.contains_key("client_assertion") {
        // RFC 6749 §2.3: one authentication method per request.
        if headers.contains_key(header::AUTHORIZATION) || form.contains_key("client_secret") {
            return Err(OAuthError::invalid_client(false));
        }
        return assertion_client(state, form).await;
    }
    secret_client(headers, form, &state.settings.clients)
}

/// `client_secret_basic` and `client_secret_post`.
pub(crate) fn secret_client<'a>(
    headers: &HeaderMap,
    form: &Map<String, Value>,
    clients: &'a std::collections::BTreeMap<String, Client>,
) -> Result<&'a Client, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split_once(' ')
                .filter(|(s, _)| s.eq_ignore_ascii_case("basic"))
                .map(|(_, c)| c.trim().to_owned())
        });
    let basic_used = basic.is_some();
    let from_basic = match basic {
        Some(b) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(b)
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .ok_or_else(|| OAuthError::invalid_client(true))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| OAuthError::invalid_client(true))?;
            let decode = |s: &str| {
                form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            Some((decode(id), decode(secret)))
        }
        None => None,
    };
    let from_form = param(form, "client_secret").map(|s| {
        (
            param(form, "client_id").unwrap_or("").to_owned(),
            s.to_owned(),
        )
    });
    let (id, secret, method) = match (from_basic, from_form) {
        (Some(b), Some(f)) => {
            let same = b.0 == f.0 && bool::from(b.1.as_bytes().ct_eq(f.1.as_bytes()));
            if !same {
                return Err(OAuthError::invalid_client(true));
            }
            (b.0, b.1, "client_secret_basic")
        }
        (Some(b), None) => {
            if param(form, "client_id").is_some_and(|id| id != b.0) {
                return Err(OAuthError::invalid_client(true));
            }
            (b.0, b.1, "client_secret_basic")
        }
        (None, Some(f)) => (f.0, f.1, "client_secret_post"),
        (None, None) => return Err(OAuthError::invalid_client(false)),
    };
    let client = clients
        .get(&id)
        .ok_or_else(|| OAuthError::invalid_client(basic_used))?;
    let secret_ok: bool = client
        .secret_sha256
        .is_some_and(|expected| sha256(secret.as_bytes()).ct_eq(&expected).into());
    // Both methods are checked in full even when one is not allowed, so the
    // answer time does not tell which was wrong.
    if !secret_ok || !client.auth_methods.iter().any(|m| m == method) {
        return Err(OAuthError::invalid_client(basic_used));
    }
    Ok(client)
}

/// PKCE (RFC 7636 §4.6), and the downgrade rule of RFC 9700 §4.8.2: a
/// verifier for a code issued without a challenge is refused.
pub(crate) fn check_pkce(
    challenge: Option<&str>,
    verifier: Option<&str>,
) -> Result<(), OAuthError> {
    match (challenge, verifier) {
        (Some(challenge), Some(verifier)) => {
            let well_formed = (43..=128).contains(&verifier.len())
                && verifier
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            let computed = b64url(&sha256(verifier.as_bytes()));
            if well_formed && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes())) {
                Ok(())
            } else {
                Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code challenge",
                ))
            }
        }
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is required")),
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier sent for a code issued without a challenge",
        )),
        (None, None) => Ok(()),
    }
}

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// `private_key_jwt` (RFC 7523 §2.2, OIDC Core §9): a JWT signed with the
/// client's key (RS256, PS256 or ES256), `iss` = `sub` = the client id, `aud`
/// the token endpoint or the issuer, `exp` at most 60 s ahead, and a `jti`
/// used once.
async fn assertion_client<'a>(
    state: &'a AppState,
    form: &Map<String, Value>,
) -> Result<&'a Client, OAuthError> {
    use jsonwebtoken::Algorithm;
    let fail = || OAuthError::invalid_client(false);
    if param(form, "client_assertion_type") != Some(ASSERTION_TYPE) {
        return Err(fail());
    }
    let jwt = param(form, "client_assertion").ok_or_else(fail)?;
    let header = jsonwebtoken::decode_header(jwt).map_err(|_| fail())?;
    let ec = match header.alg {
        Algorithm::RS256 | Algorithm::PS256 => false,
        Algorithm::ES256 => true,
        _ => return Err(fail()),
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
    let client_id = param(form, "client_id")
        .map(str::to_owned)
        .or(unverified_iss)
        .ok_or_else(fail)?;
    let client = state
        .settings
        .clients
        .get(&client_id)
        .filter(|c| c.auth_methods.iter().any(|m| m == "private_key_jwt"))
        .ok_or_else(fail)?;
    let issuer = &state.settings.issuer;
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_issuer(&[&client.id]);
    validation.sub = Some(client.id.clone());
    validation.set_audience(&[format!("{issuer}/token"), issuer.clone()]);
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.leeway = 5;
    let claims = client
        .assertion_keys
        .iter()
        .filter(|k| k.ec == ec)
        .filter(|k| header.kid.is_none() || k.kid.is_none() || k.kid == header.kid)
        .find_map(|k| jsonwebtoken::decode::<Value>(jwt, &k.key, &validation).ok())
        .ok_or_else(fail)?
        .claims;
    let now = now_unix();
    let exp = claims["exp"].as_i64().ok_or_else(fail)?;
    if exp > now + 60 {
        return Err(fail());
    }
    let jti = claims["jti"]
        .as_str()
        .filter(|j| !j.is_empty())
        .ok_or_else(fail)?;
    let key = format!("{}:{}", client.id, b64url(&sha256(jti.as_bytes())));
    if !state.store.use_assertion(&key, exp + 60).await? {
        crate::audit_warn!(state.metrics, "client_assertion_replay", "a client assertion was replayed", client_id = %client.id);
        return Err(fail());
    }
    Ok(client)
}

fn no_store(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// `POST /token`.
#[instrument(skip_all, fields(client_id, grant_type))]
pub async fn token_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match token(&state, &headers, &body).await {
        Ok(v) => no_store(axum::Json(v).into_response()),
        Err(e) => {
            tracing::info!(error = e.error, description = %e.description, "token request refused");
            e.into_response()
        }
    }
}

async fn token(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
    let form = parse_form(headers, body)?;
    let client = authenticate_client(state, headers, &form).await?;
    let span = tracing::Span::current();
    span.record("client_id", client.id.as_str());
    let grant_type = param(&form, "grant_type")
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    span.record("grant_type", grant_type);
    match grant_type {
        "authorization_code" => authorization_code(state, client, &form).await,
        "refresh_token" => super::refresh::grant(state, client, &form).await,
        _ => Err(OAuthError::unsupported_grant_type()),
    }
}

async fn authorization_code(
    state: &AppState,
    client: &Client,
    form: &Map<String, Value>,
) -> Result<Value, OAuthError> {
    let code =
        param(form, "code").ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let redirect_uri = param(form, "redirect_uri")
        .ok_or_else(|| OAuthError::invalid_request("redirect_uri is required"))?;
    let now = now_unix();
    let (row, grant) = match state.store.redeem_code(&sha256(code.as_bytes())).await? {
        Redeemed::Fresh(fresh) => *fresh,
        Redeemed::Replayed { grant_id } => {
            // RFC 6749 §4.1.2: a replayed code revokes what it issued.
            state.store.revoke_grant(&grant_id).await?;
            crate::audit_warn!(state.metrics, "code_replay", "authorization code replayed; grant revoked", client_id = %client.id);
            return Err(OAuthError::invalid_grant(
                "the authorization code was already used",
            ));
        }
        Redeemed::Unknown => {
            return Err(OAuthError::invalid_grant(
                "the authorization code is invalid",
            ));
        }
    };
    if grant.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if row.expires_at < now {
        return Err(OAuthError::invalid_grant(
            "the authorization code has expired",
        ));
    }
    if row.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    check_pkce(row.code_challenge.as_deref(), param(form, "code_verifier"))?;
    if grant.revoked {
        return Err(OAuthError::invalid_grant("the grant was revoked"));
    }
    let token = state
        .storage
        .open("legacy-token", &grant.token_sealed)
        .and_then(|t| String::from_utf8(t).ok())
        .ok_or_else(|| OAuthError::server_error(&"a sealed legacy token does not open"))?;
    let mut answer = serde_json::json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": (grant.token_expires_at - now).max(0),
        "scope": grant.scope,
    });
    // The ID token was signed at login (so this endpoint stays fast) and
    // sealed beside the code; it exists only when `openid` was granted.
    if let Some(sealed) = &row.id_token_sealed {
        let id_token = state
            .storage
            .open("id-token", sealed)
            .and_then(|t| String::from_utf8(t).ok())
            .ok_or_else(|| OAuthError::server_error(&"a sealed ID token does not open"))?;
        answer["id_token"] = Value::String(id_token);
    }
    if super::refresh::wanted(state, &grant) {
        answer["refresh_token"] =
            Value::String(super::refresh::issue(state, client, &grant, now).await?);
    }
    crate::audit!(state.metrics, "token_issued", client_id = %client.id, subject = %grant.subject);
    Ok(answer)
}
