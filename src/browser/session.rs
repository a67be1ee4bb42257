//! The login session: who is signed in on this browser, kept by
//! tower-sessions in the store under a typed key. It serves `prompt=none`
//! and logout; a store failure is reported, never read as "nobody". Its
//! records live in the store ([`SessionBackend`]), each with its user's
//! subject, so revoking a user ends their sessions on every instance.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::domain::store::Store;
use crate::domain::types::{Subject, UnixTime};

/// The session key of the signed-in user.
const USER_KEY: &str = "user";

/// Who is signed in, kept in the session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionUser {
    /// Legacy subject.
    pub sub: Subject,
    /// When they authenticated (stored as the bare number it always was).
    pub auth_time: UnixTime,
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

/// tower-sessions over any [`Store`]: each record is stored with the
/// subject of its signed-in user, so revoking a user ends their sessions
/// (`RevocationStore::revoke_user`).
#[derive(Debug, Clone)]
pub struct SessionBackend(pub std::sync::Arc<dyn Store>);

/// The subject of a record's signed-in user, if any.
fn subject_of(record: &tower_sessions::session::Record) -> Option<&str> {
    record.data.get(USER_KEY)?.get("sub")?.as_str()
}

#[async_trait]
impl tower_sessions::SessionStore for SessionBackend {
    /// A new session: one insert that never overwrites another's id (a
    /// collision draws a new id), so the login's session write is a single
    /// statement.
    async fn create(
        &self,
        record: &mut tower_sessions::session::Record,
    ) -> tower_sessions::session_store::Result<()> {
        loop {
            let data = serde_json::to_string(&*record)
                .map_err(|e| tower_sessions::session_store::Error::Encode(e.to_string()))?;
            let inserted = self
                .0
                .insert_session(
                    &record.id.to_string(),
                    &data,
                    subject_of(record),
                    record.expiry_date.unix_timestamp(),
                )
                .await
                .map_err(|e| tower_sessions::session_store::Error::Backend(e.to_string()))?;
            if inserted {
                return Ok(());
            }
            record.id = tower_sessions::session::Id::default();
        }
    }

    async fn save(
        &self,
        record: &tower_sessions::session::Record,
    ) -> tower_sessions::session_store::Result<()> {
        let data = serde_json::to_string(record)
            .map_err(|e| tower_sessions::session_store::Error::Encode(e.to_string()))?;
        self.0
            .save_session(
                &record.id.to_string(),
                &data,
                subject_of(record),
                record.expiry_date.unix_timestamp(),
            )
            .await
            .map_err(|e| tower_sessions::session_store::Error::Backend(e.to_string()))
    }

    async fn load(
        &self,
        id: &tower_sessions::session::Id,
    ) -> tower_sessions::session_store::Result<Option<tower_sessions::session::Record>> {
        let row = self
            .0
            .load_session(&id.to_string(), crate::util::clock::now_unix())
            .await
            .map_err(|e| tower_sessions::session_store::Error::Backend(e.to_string()))?;
        row.map(|data| {
            serde_json::from_str(&data)
                .map_err(|e| tower_sessions::session_store::Error::Decode(e.to_string()))
        })
        .transpose()
    }

    async fn delete(
        &self,
        id: &tower_sessions::session::Id,
    ) -> tower_sessions::session_store::Result<()> {
        self.0
            .delete_session(&id.to_string())
            .await
            .map_err(|e| tower_sessions::session_store::Error::Backend(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_names_its_signed_in_user() {
        let mut record = tower_sessions::session::Record {
            id: tower_sessions::session::Id::default(),
            data: std::collections::HashMap::new(),
            expiry_date: tower_sessions::cookie::time::OffsetDateTime::now_utc(),
        };
        assert_eq!(subject_of(&record), None);
        let user = SessionUser {
            sub: Subject::new("alice").expect("a subject"),
            auth_time: UnixTime::from_secs(1),
            grant_id: "g".into(),
        };
        record.data.insert(
            USER_KEY.into(),
            serde_json::to_value(user).expect("serialize"),
        );
        assert_eq!(subject_of(&record), Some("alice"));
    }

    #[test]
    fn a_record_stored_before_the_types_reads_the_same() {
        // As `SessionUser` with `sub: String, auth_time: i64` wrote it,
        // and as the oldest records have it (no `grant_id`).
        let stored = r#"{"sub":"alice","auth_time":1700000000,"grant_id":"g"}"#;
        let user: SessionUser = serde_json::from_str(stored).expect("an old record reads");
        assert_eq!(user.sub, "alice");
        assert_eq!(user.auth_time, UnixTime::from_secs(1_700_000_000));
        assert_eq!(user.grant_id, "g");
        assert_eq!(serde_json::to_string(&user).expect("serialize"), stored);
        let oldest: SessionUser =
            serde_json::from_str(r#"{"sub":"bob","auth_time":5}"#).expect("reads");
        assert_eq!(oldest.grant_id, "");
    }
}
