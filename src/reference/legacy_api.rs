//! The reference legacy API: an "unchanged" API that accepts only valid LT1
//! tokens under the shared key, as the company's real APIs do with their own
//! format. Any `/api/...` answers who the token belongs to, with the
//! method, path, query and the headers it received (the token's value
//! excepted), so a proxy in front of it can be checked. A few paths do
//! more, for the gateway's tests and demo:
//!
//! | path | does |
//! |---|---|
//! | `POST /api/upload` | reads the body as it streams and answers its length |
//! | `GET /api/download?bytes=N` | streams N bytes, never held whole |
//! | `GET /api/slow?ms=N` | answers after N milliseconds |
//! | `GET /api/ws` | a WebSocket that echoes each message |

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use http_body_util::BodyExt as _;
use serde_json::json;

use crate::util::clock::now_unix;
use crate::util::legacy_token::{Lt1Claims, Lt1Keys};

/// The legacy API's router, validating with `keys`.
pub fn router(keys: Lt1Keys) -> Router {
    Router::new()
        .route("/api/upload", any(api_upload))
        .route("/api/download", get(api_download))
        .route("/api/slow", get(api_slow))
        .route("/api/ws", get(api_ws))
        .route("/api/{*path}", any(api_any))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(keys)
}

/// The request's LT1 claims, or the refusal.
fn authorize(keys: &Lt1Keys, headers: &HeaderMap) -> Result<Lt1Claims, Box<Response>> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    let Some(token) = token else {
        return Err(Box::new(refuse(
            "invalid_request",
            "a Bearer token is required",
        )));
    };
    keys.validate(token, now_unix())
        .map_err(|e| Box::new(refuse("invalid_token", &e.to_string())))
}

async fn api_any(
    State(keys): State<Lt1Keys>,
    Path(path): Path<String>,
    request: Request,
) -> Response {
    let claims = match authorize(&keys, request.headers()) {
        Ok(c) => c,
        Err(refused) => return *refused,
    };
    let mut received = serde_json::Map::new();
    for (name, value) in request.headers() {
        let shown = if name == header::AUTHORIZATION {
            "(the token)".to_owned()
        } else {
            String::from_utf8_lossy(value.as_bytes()).into_owned()
        };
        received
            .entry(name.as_str())
            .and_modify(|v| {
                if let Some(s) = v.as_str() {
                    *v = json!(format!("{s}, {shown}"));
                }
            })
            .or_insert(json!(shown));
    }
    Json(json!({
        "message": "the legacy API accepted the token",
        "method": request.method().as_str(),
        "path": format!("/api/{path}"),
        "query": request.uri().query(),
        "headers": received,
        "sub": claims.sub,
        "scope": claims.scope,
        "exp": claims.exp,
        "claims": claims.attributes.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
    }))
    .into_response()
}

/// Reads the body frame by frame, keeping only the count.
async fn api_upload(State(keys): State<Lt1Keys>, request: Request) -> Response {
    if let Err(refused) = authorize(&keys, request.headers()) {
        return *refused;
    }
    let mut body = request.into_body();
    let mut bytes: u64 = 0;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    bytes += data.len() as u64;
                }
            }
            Err(e) => {
                return (StatusCode::BAD_REQUEST, format!("the upload broke: {e}")).into_response();
            }
        }
    }
    Json(json!({ "bytes": bytes })).into_response()
}

#[derive(serde::Deserialize)]
struct DownloadQuery {
    bytes: u64,
}

async fn api_download(
    State(keys): State<Lt1Keys>,
    headers: HeaderMap,
    Query(q): Query<DownloadQuery>,
) -> Response {
    if let Err(refused) = authorize(&keys, &headers) {
        return *refused;
    }
    let mut response = Body::new(Zeros { left: q.bytes }).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    response
}

#[derive(serde::Deserialize)]
struct SlowQuery {
    ms: u64,
}

async fn api_slow(
    State(keys): State<Lt1Keys>,
    headers: HeaderMap,
    Query(q): Query<SlowQuery>,
) -> Response {
    if let Err(refused) = authorize(&keys, &headers) {
        return *refused;
    }
    tokio::time::sleep(std::time::Duration::from_millis(q.ms.min(120_000))).await;
    Json(json!({ "slept_ms": q.ms })).into_response()
}

async fn api_ws(State(keys): State<Lt1Keys>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    if let Err(refused) = authorize(&keys, &headers) {
        return *refused;
    }
    ws.on_upgrade(|mut socket| async move {
        while let Some(Ok(message)) = socket.recv().await {
            let echo = match message {
                Message::Text(t) => Message::Text(format!("echo: {}", t.as_str()).into()),
                Message::Binary(b) => Message::Binary(b),
                Message::Close(_) => break,
                Message::Ping(_) | Message::Pong(_) => continue,
            };
            if socket.send(echo).await.is_err() {
                break;
            }
        }
    })
}

/// A body of `left` zero bytes, produced 64 KiB at a time as it is read
/// (the download's body, and a test upload's).
#[derive(Debug)]
pub struct Zeros {
    left: u64,
}

impl Zeros {
    /// `bytes` zero bytes.
    pub fn new(bytes: u64) -> Self {
        Self { left: bytes }
    }
}

static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

impl http_body::Body for Zeros {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = usize::try_from(self.left.min(ZEROS.len() as u64)).unwrap_or(ZEROS.len());
        self.left -= n as u64;
        Poll::Ready(Some(Ok(http_body::Frame::data(bytes::Bytes::from_static(
            &ZEROS[..n],
        )))))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.left)
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }
}

/// RFC 6750 §3: 401 with `WWW-Authenticate: Bearer error=...`.
fn refuse(error: &str, description: &str) -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response();
    let challenge = format!("Bearer error=\"{error}\", error_description=\"{description}\"");
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}
