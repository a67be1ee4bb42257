//! One bounded HTTP exchange with a legacy IdP: timeouts, no redirects, a
//! cap on the answer's size, and failures sorted into [`UpstreamError`]
//! classes without echoing URLs, bodies or credentials.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::HeaderMap;
use reqwest::{Client, Request, StatusCode};

use super::UpstreamError;

/// A legacy IdP's answer, read whole but bounded.
#[derive(Debug)]
pub struct Fetched {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body, at most the configured size.
    pub body: Bytes,
}

/// An HTTP client for one legacy IdP.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: Client,
    max_bytes: usize,
}

impl Fetcher {
    /// A client that times out, follows no redirects (a redirect from a
    /// password API is a misconfiguration or an attack, never a login) and
    /// reads at most `max_bytes` of any answer.
    pub fn new(
        timeout: Duration,
        connect_timeout: Duration,
        max_bytes: usize,
    ) -> Result<Self, String> {
        let client = Client::builder()
            .timeout(timeout)
            .connect_timeout(connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("idp-bridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self { client, max_bytes })
    }

    /// The underlying client, for building requests.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Sends a request and reads the bounded answer.
    pub async fn send(&self, request: Request) -> Result<Fetched, UpstreamError> {
        let mut response = self.client.execute(request).await.map_err(classify)?;
        if response
            .content_length()
            .is_some_and(|n| n > self.max_bytes as u64)
        {
            return Err(too_large(self.max_bytes));
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(too_large(self.max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            status: response.status(),
            headers: response.headers().clone(),
            body: body.freeze(),
        })
    }
}

/// The HTTP client handed to the `oauth2` and `openidconnect` crates: every
/// exchange goes through the same bounds. Statuses that mean "try later"
/// become [`UpstreamError::Unavailable`] here, because past this point the
/// crates report every non-200 answer alike; a redirect is never followed.
impl<'c> oauth2::AsyncHttpClient<'c> for Fetcher {
    type Error = UpstreamError;
    type Future =
        Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, UpstreamError>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = Request::try_from(request)
                .map_err(|_| UpstreamError::Protocol("cannot build the request".into()))?;
            let answer = self.send(request).await?;
            let status = answer.status;
            if status.is_redirection() {
                return Err(UpstreamError::Protocol(format!(
                    "a redirect ({}) was not followed",
                    status.as_u16()
                )));
            }
            if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
                return Err(UpstreamError::Unavailable(format!(
                    "status {}",
                    status.as_u16()
                )));
            }
            let mut response = oauth2::HttpResponse::new(answer.body.to_vec());
            *response.status_mut() = status;
            *response.headers_mut() = answer.headers;
            Ok(response)
        })
    }
}

fn too_large(max: usize) -> UpstreamError {
    UpstreamError::Protocol(format!("the answer is larger than {max} bytes"))
}

/// Sorts a transport failure and says its root cause (connection refused,
/// a DNS failure, a TLS error…), so an outage and a typo in a URL read
/// differently in the log. The URL is dropped: it may carry credentials.
pub fn classify(error: reqwest::Error) -> UpstreamError {
    let error = error.without_url();
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "the connection failed while reading the answer"
    } else {
        "the request failed"
    };
    match root_cause(&error) {
        Some(cause) => UpstreamError::Unavailable(format!("{what}: {cause}")),
        None => UpstreamError::Unavailable(what.into()),
    }
}

/// The innermost error's message, labelled by its kind where it is known.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut source = error.source();
    let mut last = None;
    let mut dns = false;
    while let Some(s) = source {
        let text = s.to_string();
        dns |= text.contains("dns error");
        last = Some(text);
        source = s.source();
    }
    let cause = last?;
    Some(if dns && !cause.contains("dns") {
        format!("dns error: {cause}")
    } else {
        cause
    })
}
