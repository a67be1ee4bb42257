//! One store test suite, run against both backends: the embedded SQLite file
//! and the machine's PostgreSQL (each run in a fresh schema); and against
//! the in-memory fake the unit tests use (`store::memory`), so the fake
//! keeps the contract it stands in for. Set
//! `IDP_BRIDGE_TEST_PG_URL` to use another server than
//! `postgres://root@127.0.0.1:5432/test`.

use std::sync::Arc;

use idp_bridge::domain::store::memory::MemoryStore;
use idp_bridge::domain::store::postgres::PgStore;
use idp_bridge::domain::store::sqlite::SqliteStore;
use idp_bridge::domain::store::{
    CodeClaim, CodeRow, GrantRenewal, GrantRow, LoginOnce, Redeemed, RefreshRow, RefreshState,
    Rotation, Store, StoredKey, ThrottleCount, ThrottleKeys, ThrottleRelease,
};
use idp_bridge::util::clock::now_unix;

pub fn pg_url() -> String {
    std::env::var("IDP_BRIDGE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into())
}

/// A fresh schema name for one test run.
pub fn fresh_schema() -> String {
    format!(
        "idpb_t_{}",
        idp_bridge::util::crypto::random_token()
            .to_lowercase()
            .replace(['-', '_'], "")[..16]
            .to_owned()
    )
}

/// Opens a PostgreSQL store in `schema`, failing with instructions when the
/// server is missing.
pub async fn pg_store(schema: &str) -> PgStore {
    PgStore::open(&pg_url(), Some(schema), 10).await.unwrap_or_else(|e| {
        panic!("PostgreSQL is required at {} (start it: pg_ctlcluster <version> main start; or set IDP_BRIDGE_TEST_PG_URL): {e}", pg_url())
    })
}

/// Drops a test schema.
pub async fn drop_schema(schema: &str) {
    if let Ok(pool) = sqlx::PgPool::connect(&pg_url()).await {
        let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .execute(&pool)
            .await;
    }
}

struct Backend {
    stores: Vec<Arc<dyn Store>>,
    _dir: Option<tempfile::TempDir>,
    schema: Option<String>,
}

impl Backend {
    /// Two handles on one database (two "instances").
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("bridge.db");
        let a: Arc<dyn Store> = Arc::new(SqliteStore::open(&path, false).await.expect("sqlite"));
        let b: Arc<dyn Store> = Arc::new(SqliteStore::open(&path, false).await.expect("sqlite"));
        Self {
            stores: vec![a, b],
            _dir: Some(dir),
            schema: None,
        }
    }

    /// Two handles on one in-memory store.
    fn memory() -> Self {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        Self {
            stores: vec![store.clone(), store],
            _dir: None,
            schema: None,
        }
    }

    async fn postgres() -> Self {
        let schema = fresh_schema();
        let (a, b) = tokio::join!(pg_store(&schema), pg_store(&schema));
        Self {
            stores: vec![Arc::new(a), Arc::new(b)],
            _dir: None,
            schema: Some(schema),
        }
    }

    fn a(&self) -> &dyn Store {
        self.stores[0].as_ref()
    }

    async fn finish(self) {
        if let Some(schema) = &self.schema {
            drop_schema(schema).await;
        }
    }
}

fn grant(id: &str, now: i64) -> (GrantRow, CodeRow) {
    (
        GrantRow {
            id: id.into(),
            client_id: "c".into(),
            subject: "u-1".into(),
            scope: "openid offline_access".into(),
            profile_json: r#"{"subject":"u-1","email":null,"name":null,"attributes":{}}"#.into(),
            token_hash: format!("th-{id}").into_bytes(),
            token_sealed: vec![1, 2, 3],
            legacy_refresh_sealed: Some(vec![4]),
            token_expires_at: now + 3600,
            auth_time: now,
            revoked: false,
            created_at: now,
            claims: r#"{"userinfo":["email"]}"#.into(),
            keep_until: 0,
        },
        CodeRow {
            code_hash: format!("ch-{id}").into_bytes(),
            redirect_uri: "https://x/cb".into(),
            nonce: None,
            code_challenge: Some("c".into()),
            expires_at: now + 60,
            id_token_sealed: None,
            login: None,
        },
    )
}

fn refresh_row(hash: &str, grant_id: &str, now: i64) -> RefreshRow {
    RefreshRow {
        token_hash: hash.as_bytes().to_vec(),
        grant_id: grant_id.into(),
        client_id: "c".into(),
        scope: "openid offline_access".into(),
        state: RefreshState::Active,
        created_at: now,
        family_expires_at: now + 1000,
        last_used_at: now,
        rotated_at: None,
        successor_sealed: None,
    }
}

fn key(kid: &str) -> StoredKey {
    StoredKey {
        kid: kid.into(),
        alg: "RS256".into(),
        private_sealed: vec![9],
        public_jwk: "{}".into(),
        created_at: 1,
        activates_at: 0,
    }
}

async fn a_code_is_redeemed_exactly_once_across_instances(b: Backend) {
    let now = now_unix();
    let (g, c) = grant("g1", now);
    b.a()
        .insert_grant_with_code(&g, &c, None)
        .await
        .expect("insert");
    let attempts = (0..8).map(|i| {
        let store = b.stores[i % 2].clone();
        let hash = c.code_hash.clone();
        tokio::spawn(async move {
            let claim = CodeClaim {
                client_id: "c",
                redirect_uri: "https://x/cb",
                challenge: Some("c"),
                now,
            };
            store.redeem_code(&hash, &claim).await.expect("redeem")
        })
    });
    let mut fresh = 0;
    for a in attempts {
        match a.await.expect("task") {
            Redeemed::Fresh(f) => {
                fresh += 1;
                assert_eq!(f.1.id, "g1");
                assert_eq!(f.0.code_challenge.as_deref(), Some("c"));
                assert_eq!(f.1.claims, r#"{"userinfo":["email"]}"#, "claims kept");
            }
            Redeemed::Replayed { grant_id } => assert_eq!(grant_id, "g1"),
            Redeemed::Unknown => panic!("the code exists"),
            Redeemed::Mismatch(_) => panic!("the claim matches"),
        }
    }
    assert_eq!(fresh, 1, "exactly one redemption wins");
    assert!(matches!(
        b.a()
            .redeem_code(
                b"nope",
                &CodeClaim {
                    client_id: "c",
                    redirect_uri: "https://x/cb",
                    challenge: None,
                    now,
                },
            )
            .await
            .expect("ok"),
        Redeemed::Unknown
    ));
    b.finish().await;
}

async fn instances_starting_together_end_with_one_signing_key(b: Backend) {
    let (ka, kb) = (key("k-a"), key("k-b"));
    let (x, y) = tokio::join!(
        b.stores[0].insert_first_signing_key(&ka),
        b.stores[1].insert_first_signing_key(&kb)
    );
    x.expect("a");
    y.expect("b");
    let keys = b.a().signing_keys().await.expect("keys");
    assert_eq!(keys.len(), 1, "one key, not one each");
    b.finish().await;
}

async fn a_refresh_token_is_claimed_once_and_rotation_spends_it(b: Backend) {
    let now = now_unix();
    let (g, c) = grant("g2", now);
    b.a()
        .insert_grant_with_code(&g, &c, None)
        .await
        .expect("insert");
    b.a()
        .insert_refresh(&refresh_row("r1", "g2", now))
        .await
        .expect("refresh");
    let claims = (0..6).map(|i| {
        let store = b.stores[i % 2].clone();
        tokio::spawn(async move { store.claim_refresh(b"r1", now).await.expect("claim") })
    });
    let mut won = 0;
    for c in claims {
        won += usize::from(c.await.expect("task"));
    }
    assert_eq!(won, 1);
    let rotation = Rotation {
        old_hash: b"r1".to_vec(),
        successor: Some(refresh_row("r2", "g2", now)),
        successor_sealed: Some(vec![7]),
        token_hash: b"th-new".to_vec(),
        token_sealed: vec![8],
        token_expires_at: now + 10,
        legacy_refresh_sealed: None,
        profile_json: None,
        now,
    };
    b.stores[1]
        .complete_rotation(&rotation)
        .await
        .expect("rotate");
    let old = b.a().refresh(b"r1").await.expect("read").expect("row");
    assert_eq!(old.state, RefreshState::Spent);
    assert_eq!(old.successor_sealed.as_deref(), Some(&[7u8][..]));
    assert_eq!(
        b.a()
            .refresh(b"r2")
            .await
            .expect("read")
            .expect("row")
            .state,
        RefreshState::Active
    );
    let g = b
        .a()
        .grants_by_token_hash(b"th-new")
        .await
        .expect("read")
        .into_iter()
        .next()
        .expect("grant moved to the new token");
    assert_eq!(
        g.legacy_refresh_sealed.as_deref(),
        Some(&[4u8][..]),
        "kept when the IdP did not rotate it"
    );
    b.a().revoke_grant("g2").await.expect("revoke");
    assert_eq!(
        b.a()
            .refresh(b"r2")
            .await
            .expect("read")
            .expect("row")
            .state,
        RefreshState::Revoked
    );
    assert!(
        b.a()
            .grant("g2")
            .await
            .expect("read")
            .expect("grant")
            .revoked
    );
    b.finish().await;
}

async fn sessions_round_trip_and_expire(b: Backend) {
    let now = now_unix();
    assert!(
        b.a()
            .insert_session("fresh", "{\"a\":0}", None, now + 100)
            .await
            .expect("insert")
    );
    assert!(
        !b.stores[1]
            .insert_session("fresh", "{\"a\":9}", None, now + 100)
            .await
            .expect("insert"),
        "a new session never overwrites another's id"
    );
    assert_eq!(
        b.a()
            .load_session("fresh", now)
            .await
            .expect("load")
            .as_deref(),
        Some("{\"a\":0}")
    );
    b.a()
        .save_session("s1", "{\"a\":1}", None, now + 100)
        .await
        .expect("save");
    b.a()
        .save_session("s1", "{\"a\":2}", None, now + 100)
        .await
        .expect("upsert");
    assert_eq!(
        b.stores[1]
            .load_session("s1", now)
            .await
            .expect("load")
            .as_deref(),
        Some("{\"a\":2}")
    );
    assert_eq!(
        b.a().load_session("s1", now + 200).await.expect("load"),
        None,
        "expired"
    );
    b.a().delete_session("s1").await.expect("delete");
    assert_eq!(b.a().load_session("s1", now).await.expect("load"), None);
    b.finish().await;
}

async fn cleanup_removes_what_expired_and_nothing_else(b: Backend) {
    let now = now_unix();
    let (mut dead, dead_code) = grant("dead", now - 7200);
    dead.token_expires_at = now - 10;
    let (dead, mut dead_code) = (dead, dead_code);
    dead_code.expires_at = now - 3600;
    b.a()
        .insert_grant_with_code(&dead, &dead_code, None)
        .await
        .expect("insert");
    let (live, live_code) = grant("live", now);
    b.a()
        .insert_grant_with_code(&live, &live_code, None)
        .await
        .expect("insert");
    redeem(&b, "live", now).await;
    // A sign-in whose code was never redeemed: it goes with its code,
    // however long its token would live.
    let (abandoned, abandoned_code) = grant("abandoned", now);
    b.a()
        .insert_grant_with_code(&abandoned, &abandoned_code, None)
        .await
        .expect("insert");
    let (mut with_family, mut fam_code) = grant("family", now - 7200);
    with_family.token_expires_at = now - 10;
    fam_code.expires_at = now - 3600;
    b.a()
        .insert_grant_with_code(&with_family, &fam_code, None)
        .await
        .expect("insert");
    b.a()
        .insert_refresh(&refresh_row("rf", "family", now))
        .await
        .expect("refresh");
    b.a()
        .save_session("old", "{}", None, now - 1)
        .await
        .expect("session");
    b.a()
        .save_session("new", "{}", None, now + 100)
        .await
        .expect("session");
    let cleaned = b.a().cleanup(now, 100).await.expect("cleanup");
    assert_eq!((cleaned.grants, cleaned.sessions), (1, 1));
    assert!(b.a().grant("dead").await.expect("read").is_none());
    assert!(b.a().grant("live").await.expect("read").is_some());
    assert!(b.a().grant("abandoned").await.expect("read").is_some());
    assert!(
        b.a().grant("family").await.expect("read").is_some(),
        "a live refresh family keeps its grant"
    );
    assert!(
        b.a()
            .load_session("new", now)
            .await
            .expect("read")
            .is_some()
    );
    // Once its family has ended, nothing keeps it.
    let later = b.a().cleanup(now + 1001, 100).await.expect("cleanup");
    assert_eq!(
        later.grants, 2,
        "the family's grant goes after the family, the abandoned one after its code"
    );
    assert!(b.a().grant("abandoned").await.expect("read").is_none());
    assert!(b.a().grant("family").await.expect("read").is_none());
    assert!(b.a().grant("live").await.expect("read").is_some());
    b.finish().await;
}

/// Redeems grant `id`'s code as its client would.
async fn redeem(b: &Backend, id: &str, now: i64) {
    let code_hash = format!("ch-{id}").into_bytes();
    let claim = CodeClaim {
        client_id: "c",
        redirect_uri: "https://x/cb",
        challenge: Some("c"),
        now,
    };
    let redeemed = b.a().redeem_code(&code_hash, &claim).await.expect("redeem");
    assert!(matches!(redeemed, Redeemed::Fresh(_)), "{redeemed:?}");
}

/// Only a redeemed grant is a source; revoking a user ends every grant
/// (redeemed or not), refresh token and session of theirs and no one
/// else's, records the event for gateways and the mark that stops minting.
async fn revoking_a_user_ends_every_grant_family_and_session(b: Backend) {
    let now = now_unix();
    let (redeemed, code) = grant("redeemed", now);
    b.a()
        .insert_grant_with_code(&redeemed, &code, None)
        .await
        .expect("insert");
    redeem(&b, "redeemed", now).await;
    let (mut pending, code) = grant("pending", now);
    pending.token_expires_at = now + 7200;
    b.a()
        .insert_grant_with_code(&pending, &code, None)
        .await
        .expect("insert");
    let (mut other, code) = grant("other", now);
    other.subject = "u-2".into();
    b.a()
        .insert_grant_with_code(&other, &code, None)
        .await
        .expect("insert");
    redeem(&b, "other", now).await;
    b.a()
        .insert_refresh(&refresh_row("rt-1", "redeemed", now))
        .await
        .expect("refresh");
    b.a()
        .save_session("s-1", "{}", Some("u-1"), now + 100)
        .await
        .expect("session");
    b.a()
        .save_session("s-2", "{}", Some("u-2"), now + 100)
        .await
        .expect("session");
    b.a()
        .save_session("s-3", "{}", None, now + 100)
        .await
        .expect("session");
    let live = b.a().live_grant("u-1", now).await.expect("live");
    assert_eq!(
        live.map(|g| g.id).as_deref(),
        Some("redeemed"),
        "the unredeemed grant is never a source, though its token lives longer"
    );
    assert_eq!(
        b.a()
            .newest_grant("u-1")
            .await
            .expect("newest")
            .map(|g| g.id)
            .as_deref(),
        Some("redeemed")
    );
    assert_eq!(b.a().user_revoked_at("u-1").await.expect("read"), None);

    assert_user_revoked(&b, now).await;
    b.finish().await;
}

/// After [`revoking_a_user_ends_every_grant_family_and_session`]'s set-up.
async fn assert_user_revoked(b: &Backend, now: i64) {
    let ended = b.stores[1].revoke_user("u-1", now).await.expect("revoke");
    assert_eq!(
        (ended.grants, ended.refresh_tokens, ended.sessions),
        (2, 1, 1)
    );
    assert!(b.a().live_grant("u-1", now).await.expect("live").is_none());
    assert!(
        b.a()
            .grant("pending")
            .await
            .expect("read")
            .expect("row")
            .revoked
    );
    assert!(
        b.a()
            .load_session("s-1", now)
            .await
            .expect("read")
            .is_none()
    );
    assert!(
        b.a()
            .load_session("s-2", now)
            .await
            .expect("read")
            .is_some()
    );
    assert!(
        b.a()
            .load_session("s-3", now)
            .await
            .expect("read")
            .is_some()
    );
    assert_eq!(
        b.a()
            .refresh(b"rt-1")
            .await
            .expect("read")
            .expect("row")
            .state,
        RefreshState::Revoked
    );
    assert!(
        !b.a()
            .grant("other")
            .await
            .expect("read")
            .expect("row")
            .revoked
    );
    assert_eq!(b.a().user_revoked_at("u-1").await.expect("read"), Some(now));
    let (events, _) = b.a().revocations_since(now - 60).await.expect("events");
    assert!(events.iter().any(|(s, _)| s == "u-1"));
    assert!(!events.iter().any(|(s, _)| s == "u-2"));
    let again = b.a().revoke_user("u-1", now + 1).await.expect("again");
    assert_eq!(
        (again.grants, again.refresh_tokens, again.sessions),
        (0, 0, 0)
    );
    assert_eq!(
        b.a().user_revoked_at("u-1").await.expect("read"),
        Some(now + 1)
    );
}

/// What keeps a grant from cleanup moves with it: a revocation frees a
/// grant at once (its live token and family no longer count), a renewed
/// token keeps it until the new expiry.
async fn revocation_and_renewal_move_a_grant_s_cleanup(b: Backend) {
    let now = now_unix();
    let (revoked, mut revoked_code) = grant("revoked", now - 7200);
    revoked_code.expires_at = now - 3600;
    b.a()
        .insert_grant_with_code(&revoked, &revoked_code, None)
        .await
        .expect("insert");
    b.a()
        .insert_refresh(&refresh_row("rr", "revoked", now))
        .await
        .expect("refresh");
    let (mut renewed, mut renewed_code) = grant("renewed", now - 7200);
    renewed.token_expires_at = now - 10;
    renewed_code.expires_at = now - 3600;
    b.a()
        .insert_grant_with_code(&renewed, &renewed_code, None)
        .await
        .expect("insert");
    assert!(
        b.a()
            .claim_grant_renewal("renewed", b"th-renewed", now, now + 30)
            .await
            .expect("claim")
    );
    let renewal = GrantRenewal {
        token_hash: b"th-renewed-2".to_vec(),
        token_sealed: vec![7],
        token_expires_at: now + 600,
        legacy_refresh_sealed: None,
        profile_json: None,
    };
    assert!(
        b.a()
            .finish_grant_renewal("renewed", Some(&renewal))
            .await
            .expect("renew")
    );
    assert_eq!(
        b.a().cleanup(now, 100).await.expect("cleanup").grants,
        0,
        "a live family and a renewed token keep their grants"
    );
    b.stores[1].revoke_grant("revoked").await.expect("revoke");
    assert_eq!(b.a().cleanup(now, 100).await.expect("cleanup").grants, 1);
    assert!(b.a().grant("revoked").await.expect("read").is_none());
    assert!(b.a().grant("renewed").await.expect("read").is_some());
    let after = b.a().cleanup(now + 601, 100).await.expect("cleanup");
    assert_eq!(
        after.grants, 1,
        "the renewed grant goes after its new token"
    );
    b.finish().await;
}

/// One login attempt's keys, as `login::throttle` makes them.
fn keys<'a>(user_address: &'a str, address: &'a str, user: &'a str) -> ThrottleKeys<'a> {
    ThrottleKeys {
        user_address,
        address,
        user,
        address_is_users: false,
    }
}

async fn failed_logins_count_in_a_window_and_lock(b: Backend) {
    let now = now_unix();
    let (pair, user, addr) = ("ua:abc:x", "user:abc", "addr:x");
    let attempt = keys(pair, addr, user);
    let count = |counts: &[ThrottleCount], key: &str| {
        counts
            .iter()
            .find(|c| c.key == key)
            .map(|c| (c.attempts, c.locked_until))
            .expect("every key comes back")
    };
    let first = b
        .a()
        .throttle_reserve(attempt, now, 900)
        .await
        .expect("reserve");
    assert_eq!(first.len(), 3);
    for key in [pair, user, addr] {
        assert_eq!(count(&first, key), (1, 0));
    }
    let second = b.stores[1]
        .throttle_reserve(attempt, now, 900)
        .await
        .expect("reserve on the other instance");
    assert_eq!(count(&second, pair), (2, 0), "counted across instances");
    // A success gives the address and the user their reservation back and
    // forgets the pair.
    b.a()
        .throttle_release(ThrottleRelease {
            keys: attempt,
            forget: Some(pair),
        })
        .await
        .expect("release");
    let third = b
        .a()
        .throttle_reserve(attempt, now, 900)
        .await
        .expect("reserve");
    assert_eq!(count(&third, pair), (1, 0), "the pair was forgotten");
    assert_eq!(count(&third, addr), (2, 0), "one reservation given back");
    assert_eq!(count(&third, user), (2, 0), "one reservation given back");
    b.a()
        .throttle_reserve(attempt, now, 900)
        .await
        .expect("reserve");
    b.a()
        .throttle_reserve(attempt, now, 900)
        .await
        .expect("reserve");
    b.a().throttle_lock(pair, 3, now + 600).await.expect("lock");
    let locked = b.stores[1]
        .throttle_reserve(attempt, now + 1, 900)
        .await
        .expect("reserve");
    assert_eq!(
        count(&locked, pair),
        (3, now + 600),
        "locked at the limit; a locked key counts nothing"
    );
    assert_eq!(count(&locked, user).0, 5, "the others counted");
    let after = b
        .a()
        .throttle_reserve(attempt, now + 601, 900)
        .await
        .expect("reserve");
    assert_eq!(
        count(&after, pair),
        (1, 0),
        "an ended lockout starts afresh"
    );
    let later = b
        .a()
        .throttle_reserve(keys("ua:abc:y", "addr:y", user), now + 2000, 900)
        .await
        .expect("reserve");
    assert_eq!(count(&later, user).0, 1, "a new window");
    b.finish().await;
}

/// `login::throttle::unlock` removes every counter of the username (each
/// address's and its own, locked or not, counted on either instance) and
/// nothing else: not the addresses', not another user's.
async fn unlocking_a_user_clears_its_counters_and_no_one_else_s(b: Backend) {
    use idp_bridge::browser::throttle::{Counters, unlock};
    let now = now_unix();
    let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
    let alice_a = Counters::new("alice", ip("192.0.2.1"));
    let alice_b = Counters::new("alice", ip("2001:db8::2"));
    let bob_a = Counters::new("bob", ip("192.0.2.1"));
    // The migration script's counters are all alice's.
    let alice_script = Counters::for_script("alice");
    for (store, counters) in [
        (0, &alice_a),
        (1, &alice_b),
        (0, &bob_a),
        (1, &alice_a),
        (0, &alice_script),
    ] {
        b.stores[store]
            .throttle_reserve(counters.keys(), now, 900)
            .await
            .expect("reserve");
    }
    b.a()
        .throttle_lock(&alice_a.user_address, 2, now + 600)
        .await
        .expect("lock");
    assert_eq!(
        unlock(b.stores[1].as_ref(), " ALICE ")
            .await
            .expect("unlock"),
        5,
        "alice at A, alice at B, alice everywhere, alice through the script (its two own counters)"
    );
    assert_eq!(
        unlock(b.a(), "alice").await.expect("again"),
        0,
        "nothing left"
    );
    let count = |counts: &[ThrottleCount], key: &str| {
        counts
            .iter()
            .find(|c| c.key == key)
            .map(|c| (c.attempts, c.locked_until))
            .expect("key")
    };
    let fresh = b
        .a()
        .throttle_reserve(alice_a.keys(), now + 1, 900)
        .await
        .expect("reserve");
    assert_eq!(count(&fresh, &alice_a.user_address), (1, 0), "unlocked");
    assert_eq!(count(&fresh, &alice_a.user), (1, 0));
    assert_eq!(
        count(&fresh, &alice_a.address).0,
        4,
        "the address's count is no user's"
    );
    let bob = b
        .a()
        .throttle_reserve(bob_a.keys(), now + 1, 900)
        .await
        .expect("reserve");
    assert_eq!(count(&bob, &bob_a.user_address).0, 2, "bob's count stays");
    b.finish().await;
}

async fn one_login_form_yields_one_grant_across_instances(b: Backend) {
    let now = now_unix();
    let form = LoginOnce {
        id: "form-1".into(),
        expires_at: now + 600,
    };
    let (g1, mut c1) = grant("once-1", now);
    let (g2, mut c2) = grant("once-2", now);
    c1.login = Some(form.clone());
    c2.login = Some(form);
    let (x, y) = tokio::join!(
        b.stores[0].insert_grant_with_code(&g1, &c1, None),
        b.stores[1].insert_grant_with_code(&g2, &c2, None)
    );
    assert_eq!(
        u8::from(x.expect("a")) + u8::from(y.expect("b")),
        1,
        "exactly one grant per login form"
    );
    let (g3, c3) = grant("once-3", now);
    let (g4, c4) = grant("once-4", now);
    assert!(
        b.a()
            .insert_grant_with_code(&g3, &c3, None)
            .await
            .expect("no form")
    );
    assert!(
        b.a()
            .insert_grant_with_code(&g4, &c4, None)
            .await
            .expect("no form"),
        "grants without a form never collide"
    );
    b.finish().await;
}

async fn concurrent_reservations_each_get_their_own_count(b: Backend) {
    let now = now_unix();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = b.stores[i % 2].clone();
            tokio::spawn(async move {
                let counts = store
                    .throttle_reserve(keys("ua:burst:x", "addr:burst", "user:burst"), now, 900)
                    .await
                    .expect("reserve");
                counts
                    .iter()
                    .find(|c| c.key == "ua:burst:x")
                    .map(|c| c.attempts)
                    .expect("pair key")
            })
        })
        .collect();
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.expect("task"));
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=40).collect::<Vec<i64>>(),
        "no two concurrent attempts share a count"
    );
    b.finish().await;
}

/// Logins of one user from a few addresses behind one NAT-ed address
/// pool, at once on two instances, reserve and settle the same throttle
/// rows while the user is unlocked now and then: every statement must take
/// their row locks in one order, or PostgreSQL finds a deadlock (seen in
/// the soak as `deadlock detected` on `login_throttle`).
async fn reservations_and_releases_at_once_never_deadlock(b: Backend) {
    let now = now_unix();
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let store = b.stores[i % 2].clone();
            tokio::spawn(async move {
                for round in 0..60 {
                    let pair = format!("ua:crowd:{}", (i + round) % 3);
                    let attempt = keys(&pair, "addr:shared-nat", "user:crowd");
                    store
                        .throttle_reserve(attempt, now, 900)
                        .await
                        .map_err(|e| format!("reserve {i}/{round}: {e}"))?;
                    let forget = (round % 3 == 0).then_some(pair.as_str());
                    store
                        .throttle_release(ThrottleRelease {
                            keys: attempt,
                            forget,
                        })
                        .await
                        .map_err(|e| format!("release {i}/{round}: {e}"))?;
                    if (i + round) % 16 == 0 {
                        store
                            .throttle_clear("user:crowd")
                            .await
                            .map_err(|e| format!("clear {i}/{round}: {e}"))?;
                    }
                }
                Ok::<(), String>(())
            })
        })
        .collect();
    let mut errors = Vec::new();
    for task in tasks {
        if let Err(e) = task.await.expect("task") {
            errors.push(e);
        }
    }
    assert!(
        errors.is_empty(),
        "{} failed, first: {:?}",
        errors.len(),
        errors.first()
    );
    b.finish().await;
}

async fn a_client_assertion_is_used_once_across_instances(b: Backend) {
    let exp = now_unix() + 60;
    let (x, y) = tokio::join!(
        b.stores[0].use_assertion("c:jti-1", exp),
        b.stores[1].use_assertion("c:jti-1", exp)
    );
    assert_eq!(
        u8::from(x.expect("a")) + u8::from(y.expect("b")),
        1,
        "exactly one use wins"
    );
    assert!(
        b.a()
            .use_assertion("c:jti-2", exp)
            .await
            .expect("other jti")
    );
    b.finish().await;
}

/// `keys rotate-storage-key`'s walk on each backend: every sealed column,
/// in batches smaller than the table, moved under the new key only if the
/// row still holds the value read; a second run moves nothing.
async fn sealed_values_move_under_a_new_key(b: Backend) {
    use idp_bridge::domain::storage_rotation::reseal_all;
    use idp_bridge::domain::store::sealed::{RowKey, SealedColumn};
    use idp_bridge::util::crypto::{Purpose, StorageKey};
    use idp_bridge::util::secret::Key32;

    let old = StorageKey::new(&Key32::new([1; 32]));
    let both = StorageKey::new(&Key32::new([2; 32])).with_previous(&Key32::new([1; 32]));
    let new = StorageKey::new(&Key32::new([2; 32]));
    let now = now_unix();
    let mut signing = key("k1");
    signing.private_sealed = old.seal(Purpose::SigningKey, b"der");
    b.a().insert_signing_key(&signing).await.expect("key");
    for i in 0..3 {
        let (mut g, mut c) = grant(&format!("g{i}"), now);
        g.token_sealed = old.seal(Purpose::LegacyToken, format!("at-{i}").as_bytes());
        g.legacy_refresh_sealed = Some(old.seal(Purpose::LegacyRefreshToken, b"rt"));
        c.id_token_sealed = Some(old.seal(Purpose::IdToken, b"idt"));
        assert!(
            b.a()
                .insert_grant_with_code(&g, &c, None)
                .await
                .expect("grant")
        );
        let r = refresh_row(&format!("r{i}"), &g.id, now);
        b.a().insert_refresh(&r).await.expect("refresh");
    }
    // One rotated refresh token: its successor kept sealed for the grace period.
    let rotation = Rotation {
        old_hash: b"r0".to_vec(),
        successor: Some(refresh_row("r0b", "g0", now)),
        successor_sealed: Some(old.seal(Purpose::RefreshSuccessor, b"r0b")),
        token_hash: b"th-g0b".to_vec(),
        token_sealed: old.seal(Purpose::LegacyToken, b"at-0b"),
        token_expires_at: now + 10,
        legacy_refresh_sealed: None,
        profile_json: None,
        now,
    };
    b.a().complete_rotation(&rotation).await.expect("rotate");
    // A value changed meanwhile is not overwritten.
    let rows = b
        .a()
        .sealed_values(
            SealedColumn::GrantToken,
            &SealedColumn::GrantToken.first_key(),
            10,
        )
        .await
        .expect("rows");
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].0, RowKey::Text("g0".into()));
    assert!(
        !b.a()
            .replace_sealed(
                SealedColumn::GrantToken,
                &rows[0].0,
                b"not what is there",
                b"x"
            )
            .await
            .expect("replace")
    );
    let reports = reseal_all(b.a(), &both, 2).await.expect("reseal");
    for (column, report) in &reports {
        let expected = match column {
            SealedColumn::SigningKey | SealedColumn::RefreshSuccessor => 1,
            _ => 3,
        };
        assert_eq!(
            (report.moved, report.unreadable),
            (expected, 0),
            "{}: {report:?}",
            column.name()
        );
    }
    let g = b.a().grant("g2").await.expect("read").expect("grant");
    assert_eq!(
        new.open(Purpose::LegacyToken, &g.token_sealed).as_deref(),
        Some(&b"at-2"[..]),
        "opens under the new key alone"
    );
    assert!(old.open(Purpose::LegacyToken, &g.token_sealed).is_none());
    let again = reseal_all(b.a(), &both, 2).await.expect("again");
    assert!(
        again.iter().all(|(_, r)| r.moved == 0 && r.current > 0),
        "{again:?}"
    );
    b.finish().await;
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::$name(super::Backend::sqlite().await).await; })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() { super::$name(super::Backend::postgres().await).await; })*
        }
        mod memory {
            $(#[tokio::test] async fn $name() { super::$name(super::Backend::memory()).await; })*
        }
    };
}

both_backends!(
    a_code_is_redeemed_exactly_once_across_instances,
    instances_starting_together_end_with_one_signing_key,
    a_refresh_token_is_claimed_once_and_rotation_spends_it,
    sessions_round_trip_and_expire,
    cleanup_removes_what_expired_and_nothing_else,
    revocation_and_renewal_move_a_grant_s_cleanup,
    failed_logins_count_in_a_window_and_lock,
    unlocking_a_user_clears_its_counters_and_no_one_else_s,
    concurrent_reservations_each_get_their_own_count,
    reservations_and_releases_at_once_never_deadlock,
    one_login_form_yields_one_grant_across_instances,
    a_client_assertion_is_used_once_across_instances,
    revoking_a_user_ends_every_grant_family_and_session,
);

/// What only the SQL backends do: `keys rotate-storage-key` walks their
/// sealed columns. The in-memory fake stands in for the protocol's unit
/// tests and seals nothing of its own, so it answers these calls with an
/// error by design (`Housekeeping`'s default).
macro_rules! sql_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite_sealed {
            $(#[tokio::test] async fn $name() { super::$name(super::Backend::sqlite().await).await; })*
        }
        mod postgres_sealed {
            $(#[tokio::test] async fn $name() { super::$name(super::Backend::postgres().await).await; })*
        }
    };
}

sql_backends!(sealed_values_move_under_a_new_key);
