//! The login session: who is signed in on this browser, kept by
//! tower-sessions in the store under a typed key. It serves `prompt=none`
//! and logout; a store failure is reported, never read as "nobody".

use serde::{Deserialize, Serialize};
use tower_sessions::Session;

/// The session key of the signed-in user.
const USER_KEY: &str = "user";

/// Who is signed in, kept in the session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionUser {
    /// Legacy subject.
    pub sub: String,
    /// When they authenticated.
    pub auth_time: i64,
    /// The grant of that login: its legacy token serves `prompt=none`.
    #[serde(default)]
    pub grant_id: String,
}

/// The signed-in user, if any.
pub async fn user(
    session: &Session,
) -> Result<Option<SessionUser>, tower_sessions::session::Error> {
    session.get::<SessionUser>(USER_KEY).await
}

/// Starts the signed-in session: a new session id first (session fixation),
/// then the user. A browser that came without a session has no id to
/// replace: its session gets a fresh one when it is first stored, and
/// cycling would only cost a write (a delete of a row that never was).
pub async fn start(
    session: &Session,
    user: SessionUser,
) -> Result<(), tower_sessions::session::Error> {
    if session.id().is_some() {
        session.cycle_id().await?;
    }
    session.insert(USER_KEY, user).await
}
