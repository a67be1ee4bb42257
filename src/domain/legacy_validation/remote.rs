//! Asking the legacy IdP whether a token is live: its RFC 7662
//! introspection endpoint (the token in a form, the bridge's credentials
//! in HTTP Basic, form-urlencoded first as RFC 6749 §2.3.1 says) or its
//! userinfo endpoint (the token as a Bearer token), through the
//! `upstream::fetch` client (no redirects, a size cap, timeouts).
//!
//! What counts as an answer: introspection's `active: true` with a subject
//! is live, `active: false` is not; userinfo's 200 with a subject is live,
//! its 401 or 403 is not. Anything else — a timeout, a 5xx, a 401 from the
//! introspection endpoint (the bridge's own credentials are wrong), a body
//! that is not JSON — is "cannot tell now", never "not live" and never
//! "live".

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderName, HeaderValue};
use reqwest::{Method, Request, StatusCode};
use serde_json::{Map, Value};

use super::{Live, Verdict};
use crate::domain::config::Remote;
use crate::domain::upstream::fetch::Fetcher;
use crate::util::secret::SecretValue;

/// Asks the configured endpoint about `token`.
pub async fn ask(
    fetcher: &Fetcher,
    remote: &Remote,
    subject_field: &str,
    claims: &[String],
    token: &str,
) -> Result<Verdict, String> {
    let (request, introspection) = match remote {
        Remote::Lt1 => return Err("not a remote source".into()),
        Remote::Introspection {
            url,
            client,
            headers,
        } => {
            let body = form_urlencoded::Serializer::new(String::new())
                .append_pair("token", token)
                .append_pair("token_type_hint", "access_token")
                .finish();
            let mut request = fetcher
                .client()
                .request(Method::POST, url.clone())
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(body);
            if let Some((id, secret)) = client {
                request = request.basic_auth(form_encode(id), Some(form_encode(secret.secret())));
            }
            (with_headers(request, headers)?, true)
        }
        Remote::Userinfo { url, headers } => {
            let mut bearer = HeaderValue::try_from(format!("Bearer {token}"))
                .map_err(|_| "the token cannot be sent in a header".to_owned())?;
            bearer.set_sensitive(true);
            let request = fetcher
                .client()
                .request(Method::GET, url.clone())
                .header(AUTHORIZATION, bearer);
            (with_headers(request, headers)?, false)
        }
    };
    let answer = fetcher.send(request).await.map_err(|e| e.to_string())?;
    match answer.status {
        StatusCode::OK => {}
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN if !introspection => {
            return Ok(Verdict::Inactive("inactive_at_legacy_idp"));
        }
        other => return Err(format!("the legacy IdP answered {}", other.as_u16())),
    }
    let body: Map<String, Value> = serde_json::from_slice(&answer.body)
        .map_err(|_| "the legacy IdP answered no JSON object".to_owned())?;
    if introspection && body.get("active") != Some(&Value::Bool(true)) {
        return Ok(Verdict::Inactive("inactive_at_legacy_idp"));
    }
    let sub = match body.get(subject_field) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(format!("the legacy IdP's answer has no `{subject_field}`")),
    };
    let int = |name: &str| body.get(name).and_then(Value::as_i64);
    Ok(Verdict::Active(Live {
        sub,
        exp: int("exp"),
        iat: int("iat"),
        scope: body.get("scope").and_then(Value::as_str).map(str::to_owned),
        claims: claims
            .iter()
            .filter_map(|c| body.get(c).map(|v| (c.clone(), v.clone())))
            .collect(),
    }))
}

fn with_headers(
    mut request: reqwest::RequestBuilder,
    headers: &[(String, SecretValue)],
) -> Result<Request, String> {
    request = request.header(ACCEPT, "application/json");
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("`{name}` is not a header name"))?;
        let mut value = HeaderValue::try_from(value.secret())
            .map_err(|_| format!("the header `{name}` has a value a header cannot carry"))?;
        value.set_sensitive(true);
        request = request.header(name, value);
    }
    request
        .build()
        .map_err(|_| "cannot build the request".to_owned())
}

/// RFC 6749 §2.3.1: Basic credentials are form-urlencoded first.
fn form_encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
