//! The `command` adapter: for legacy IdPs no configuration reaches (SOAP, a
//! database, a mainframe), run a program that does the talking.
//!
//! The contract (also in `docs/command-adapter.md`): the bridge starts the
//! program with the configured arguments and environment (only `PATH` is
//! inherited), writes one JSON request to its stdin and closes it:
//!
//! ```json
//! {"version":1,"action":"authenticate","username":"alice","password":"..."}
//! {"version":1,"action":"renew","refresh_token":"..."}
//! {"version":1,"action":"profile","access_token":"..."}
//! {"version":1,"action":"mint","subject":"u-1"}
//! ```
//!
//! and reads one JSON answer from its stdout:
//!
//! ```json
//! {"status":"ok","access_token":"...","expires_in":3600,"refresh_token":"...",
//!  "profile":{"sub":"u-1","email":"a@example.com","name":"Alice","roles":"x"}}
//! {"status":"invalid_credentials"} / {"status":"locked"} / {"status":"unavailable"}
//! ```
//!
//! `expires_at` (unix seconds) may stand instead of `expires_in`. Exit codes:
//! 0 = the answer on stdout counts; 1 = invalid credentials; 2 = locked;
//! 75 (`EX_TEMPFAIL`) = unavailable; anything else, a signal, or a run past
//! the timeout is a failure of the program. stderr is drained and dropped,
//! never logged: it could hold what the program was given.

use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tracing::instrument;

use super::config::CommandConfig;
use super::http::check_token;
use super::{LegacyGrant, LegacyIdp, Profile, RenewedGrant, UpstreamError, profile_after_renewal};
use crate::domain::types::Subject;
use crate::util::clock::now_unix;
use crate::util::secret::{LegacyAccessToken, LegacyRefreshToken, Password};

/// Exit code: the credentials were refused.
pub const EXIT_INVALID_CREDENTIALS: i32 = 1;
/// Exit code: the account is locked or disabled.
pub const EXIT_LOCKED: i32 = 2;
/// Exit code: the legacy IdP is unavailable (`EX_TEMPFAIL` of sysexits.h).
pub const EXIT_UNAVAILABLE: i32 = 75;

/// The `command` adapter.
#[derive(Debug)]
pub struct CommandIdp {
    config: CommandConfig,
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    access_token: Option<String>,
    expires_in: Option<i64>,
    expires_at: Option<i64>,
    refresh_token: Option<String>,
    profile: RawProfile,
}

/// A profile object as the command wrote it.
type RawProfile = Option<serde_json::Map<String, Value>>;

impl CommandIdp {
    /// Wraps the settings; the program is only started per request.
    pub fn new(config: CommandConfig) -> Self {
        Self { config }
    }

    async fn run(&self, request: Value) -> Result<Answer, UpstreamError> {
        let timeout = Duration::from_millis(self.config.timeout_ms);
        tokio::time::timeout(timeout, self.run_inner(request))
            .await
            .map_err(|_| UpstreamError::Unavailable("the command timed out".into()))?
    }

    async fn run_inner(&self, request: Value) -> Result<Answer, UpstreamError> {
        let mut command = Command::new(&self.config.program);
        command
            .args(&self.config.args)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // The child is killed if the timeout drops this future.
            .kill_on_drop(true);
        if let Ok(path) = std::env::var("PATH") {
            command.env("PATH", path);
        }
        for (name, source) in &self.config.env {
            let value = source.resolve().map_err(|e| {
                UpstreamError::Protocol(format!("upstream.command.env.{name}: {e}"))
            })?;
            command.env(name, value.secret());
        }
        let mut child = command.spawn().map_err(|e| {
            UpstreamError::Protocol(format!("the command could not be started: {}", e.kind()))
        })?;
        let (Some(mut stdin), Some(stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(UpstreamError::Protocol(
                "the command's pipes are missing".into(),
            ));
        };
        let mut line = request.to_string();
        line.push('\n');
        // A program that exits without reading its input is judged by its
        // exit code, so a broken pipe here is not an error of its own.
        let _ = stdin.write_all(line.as_bytes()).await;
        drop(stdin);
        let limit = self.config.max_output_bytes;
        let read_stdout = async {
            let mut out = Vec::new();
            let mut bounded = stdout.take(limit as u64 + 1);
            bounded.read_to_end(&mut out).await.map(|_| out)
        };
        let drain_stderr = async {
            let mut sink = tokio::io::sink();
            let _ = tokio::io::copy(&mut (&mut stderr).take(1 << 20), &mut sink).await;
        };
        let (out, ()) = tokio::join!(read_stdout, drain_stderr);
        let out =
            out.map_err(|_| UpstreamError::Protocol("cannot read the command's output".into()))?;
        if out.len() > limit {
            return Err(UpstreamError::Protocol(format!(
                "the command wrote more than {limit} bytes"
            )));
        }
        let status = child
            .wait()
            .await
            .map_err(|_| UpstreamError::Protocol("cannot wait for the command".into()))?;
        match status.code() {
            Some(0) => serde_json::from_slice::<Answer>(&out).map_err(|_| {
                UpstreamError::Protocol("the command's answer is not the expected JSON".into())
            }),
            Some(EXIT_INVALID_CREDENTIALS) => Err(UpstreamError::InvalidCredentials),
            Some(EXIT_LOCKED) => Err(UpstreamError::Locked),
            Some(EXIT_UNAVAILABLE) => Err(UpstreamError::Unavailable(
                "the command reported the IdP unavailable".into(),
            )),
            Some(code) => Err(UpstreamError::Protocol(format!(
                "the command exited with status {code}"
            ))),
            None => Err(UpstreamError::Protocol(
                "the command was killed by a signal".into(),
            )),
        }
    }

    fn check_status(answer: &Answer) -> Result<(), UpstreamError> {
        match answer.status.as_str() {
            "ok" => Ok(()),
            "invalid_credentials" => Err(UpstreamError::InvalidCredentials),
            "locked" => Err(UpstreamError::Locked),
            "unavailable" => Err(UpstreamError::Unavailable(
                "the command reported the IdP unavailable".into(),
            )),
            "unsupported" => Err(UpstreamError::Unsupported(
                "this operation (the command says)",
            )),
            _ => Err(UpstreamError::Protocol(
                "the command's answer has an unknown status".into(),
            )),
        }
    }

    /// Runs `request` and reads a token answer (`renew`, `mint`): the
    /// token, its expiry and a refresh token, and the profile as given (the
    /// caller decides what an unreadable one means).
    async fn token_answer(
        &self,
        request: Value,
    ) -> Result<(RenewedGrant, RawProfile), UpstreamError> {
        let mut answer = self.run(request).await?;
        Self::check_status(&answer)?;
        let (access_token, expires_at, refresh_token) = self.token_parts(&mut answer)?;
        let renewed = RenewedGrant {
            access_token,
            expires_at,
            refresh_token,
            profile: None,
        };
        Ok((renewed, answer.profile.take()))
    }

    fn token_parts(
        &self,
        answer: &mut Answer,
    ) -> Result<(LegacyAccessToken, i64, Option<LegacyRefreshToken>), UpstreamError> {
        let token = answer.access_token.take().ok_or_else(|| {
            UpstreamError::Protocol("the command's answer has no access_token".into())
        })?;
        check_token(&token)?;
        let now = now_unix();
        let expires_at = answer
            .expires_at
            .or_else(|| answer.expires_in.map(|s| now.saturating_add(s)))
            .unwrap_or_else(|| now.saturating_add(self.config.default_expires_in));
        let refresh = answer
            .refresh_token
            .take()
            .filter(|r| !r.is_empty())
            .map(LegacyRefreshToken::new);
        Ok((LegacyAccessToken::new(token), expires_at, refresh))
    }
}

/// Reads `{"sub": ..., "email": ..., "name": ..., other...}`.
fn profile_of(map: serde_json::Map<String, Value>) -> Result<Profile, UpstreamError> {
    let mut attributes = map;
    let text = |v: Value| match v {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let subject = attributes
        .remove("sub")
        .and_then(text)
        .and_then(|s| Subject::new(s).ok())
        .ok_or_else(|| UpstreamError::Protocol("the command's profile has no sub".into()))?;
    Ok(Profile {
        subject,
        email: attributes.remove("email").and_then(text),
        email_verified: None,
        name: attributes.remove("name").and_then(text),
        attributes,
    })
}

#[async_trait]
impl LegacyIdp for CommandIdp {
    #[instrument(skip_all, fields(adapter = "command"))]
    async fn authenticate(
        &self,
        username: &str,
        password: &Password,
    ) -> Result<LegacyGrant, UpstreamError> {
        let request = json!({"version": 1, "action": "authenticate", "username": username, "password": password.secret()});
        let mut answer = self.run(request).await?;
        Self::check_status(&answer)?;
        let (access_token, expires_at, refresh_token) = self.token_parts(&mut answer)?;
        let profile = profile_of(answer.profile.take().unwrap_or_default())?;
        Ok(LegacyGrant {
            access_token,
            expires_at,
            refresh_token,
            profile,
        })
    }

    #[instrument(skip_all, fields(adapter = "command"))]
    async fn renew(
        &self,
        refresh_token: &LegacyRefreshToken,
        known: Option<&Profile>,
    ) -> Result<RenewedGrant, UpstreamError> {
        let request =
            json!({"version": 1, "action": "renew", "refresh_token": refresh_token.secret()});
        let (mut renewed, profile) = self.token_answer(request).await?;
        // The legacy IdP may have rotated the refresh token: a profile that
        // cannot be read must not fail the renewal.
        renewed.profile = profile.and_then(|p| profile_after_renewal(profile_of(p), known));
        Ok(renewed)
    }

    #[instrument(skip_all, fields(adapter = "command"))]
    async fn profile(&self, access_token: &LegacyAccessToken) -> Result<Profile, UpstreamError> {
        let request =
            json!({"version": 1, "action": "profile", "access_token": access_token.secret()});
        let mut answer = self.run(request).await?;
        Self::check_status(&answer)?;
        profile_of(answer.profile.take().unwrap_or_default())
    }

    fn can_renew(&self) -> bool {
        true
    }

    #[instrument(skip_all, fields(adapter = "command"))]
    async fn mint(&self, subject: &Subject) -> Result<RenewedGrant, UpstreamError> {
        let request = json!({"version": 1, "action": "mint", "subject": subject});
        let (mut minted, profile) = self.token_answer(request).await?;
        minted.profile = profile.map(profile_of).transpose()?;
        Ok(minted)
    }
}
