//! What an answer refused and why, for the one log line the middleware
//! writes about it ([`crate::app::middleware`]). Handlers and error types attach a
//! [`Refusal`] to the response instead of logging where the error is built,
//! so every refusal is logged exactly once, inside the request's span (with
//! its request id and client id), and the cause never reaches the body.
//! [`log_refusal`] is that middleware's one line (the provider and the
//! gateway share it). A leaf: it depends on nothing in the crate.

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being answered (empty outside one).
pub fn request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// A value from the request, quoted and cut to 200 characters, for a cause.
pub fn shown(value: &str) -> String {
    let cut: String = value.chars().take(200).collect();
    format!("{cut:?}")
}

/// A refusal's log record, carried in the response's extensions.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The error code or page kind (`invalid_grant`, `error_page`).
    pub code: &'static str,
    /// What the client or person was told.
    pub description: String,
    /// The internal cause, for operators only (never a secret).
    pub cause: Option<String>,
    /// A reference shown to the person, to find this line.
    pub reference: Option<String>,
}

impl Refusal {
    /// Attaches the refusal to `response`.
    pub fn attach(self, response: &mut axum::response::Response) {
        response.extensions_mut().insert(self);
    }
}

/// Logs the [`Refusal`] a handler attached, once: server errors at `error`,
/// error pages at `warn`, protocol refusals (a client's mistake) at `info`.
pub async fn log_refusal(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    // The request id (set by the layer outside) is what an error page shows
    // as its reference, so a person's reference, the `x-request-id` and
    // the log line's request id are one value.
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_default();
    let response = REQUEST_ID.scope(id, next.run(request)).await;
    // A page shown with 200 (the "signed out" page) is an answer, not a
    // refusal.
    let refused = response.extensions().get::<Refusal>();
    if let Some(r) = refused.filter(|_| !response.status().is_success()) {
        let status = response.status().as_u16();
        let cause = r.cause.as_deref().unwrap_or("");
        let reference = r.reference.as_deref().unwrap_or("");
        let (code, description) = (r.code, r.description.as_str());
        if response.status().is_server_error() {
            tracing::error!(
                status,
                code,
                description,
                cause,
                reference,
                "request failed"
            );
        } else if code == "error_page" {
            tracing::warn!(
                status,
                code,
                description,
                cause,
                reference,
                "request refused"
            );
        } else {
            tracing::info!(
                status,
                code,
                description,
                cause,
                reference,
                "request refused"
            );
        }
    }
    response
}
