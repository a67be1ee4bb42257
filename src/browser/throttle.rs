//! Login throttling in the manner of Auth0's brute-force protection and
//! suspicious IP throttling. Failed logins are counted in the store (so
//! every instance sees them) under three counters:
//!
//! - the username from one client address (`ua:`): a burst of wrong
//!   passwords locks that address out of that account, while its owner still
//!   signs in from anywhere else — knowing a username is not enough to lock
//!   its owner out;
//! - the address across usernames (`addr:`): one address guessing many
//!   accounts;
//! - the username across addresses (`user:`), at a much higher ceiling: many
//!   addresses guessing one account are slowed down.
//!
//! Each attempt is reserved under all three atomically *before* the legacy
//! IdP is asked and given back unless it was a wrong password, so
//! concurrent guesses cannot slip past a limit between a check and a count.
//! Each failure is answered after a growing delay, the same for every kind
//! of failure; past a limit the key is locked for a while. The answer is the
//! same whether or not the account exists, and a locked key never reaches
//! the legacy IdP. A success forgets its username-and-address count (Auth0
//! counts consecutive failures from an address); [`unlock`] clears every
//! count of a username. The client address is the peer's, or the one a
//! trusted proxy reports ([`client_address`]).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::http::HeaderMap;

use crate::domain::config::{AuditUsername, ThrottleSettings};
use crate::domain::store::{StoreError, ThrottleKeys, ThrottleRelease, ThrottleStore};
use crate::domain::types::UnixTime;
use crate::util::crypto::{Purpose, StorageKey, b64url, sha256};

/// A username's own counter key, `user:<hash>`: the SHA-256 of the
/// username as [`counted_name`] makes it (trimmed, NFKC, lower case), so
/// the store holds no username. Every `ua:` key of the username carries
/// the same hash.
pub fn user_key(username: &str) -> String {
    format!("user:{}", user_hash(username))
}

fn user_hash(username: &str) -> String {
    b64url(&sha256(counted_name(username).as_bytes()))
}

/// A username as the throttle counts it: trimmed, in Unicode's
/// compatibility form (NFKC: full-width `ａ`, a decomposed `é` and the
/// like become the one ordinary character) and lower case, then NFKC
/// again. A legacy IdP that compares names as LDAP does (RFC 4518) takes
/// every such form for the same person, so a guesser alternating forms
/// must not get fresh counters with each.
fn counted_name(username: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    let folded: String = username.trim().nfkc().collect::<String>().to_lowercase();
    folded.nfkc().collect()
}

/// The request's client address: the peer's, or, when the peer is one of
/// `trusted_proxies`, the rightmost address in `client_address_header`
/// that is not a trusted proxy ([`crate::util::net::client_address`]).
pub fn client_address(
    headers: &HeaderMap,
    peer: SocketAddr,
    settings: &ThrottleSettings,
) -> IpAddr {
    let forwarded = headers
        .get_all(&settings.client_address_header)
        .iter()
        .filter_map(|v| v.to_str().ok());
    crate::util::net::client_address(peer.ip(), forwarded, &settings.trusted_proxies)
}

/// How `username` appears in audit lines: as typed, control characters
/// escaped (`plain`), or `hmac:` and a keyed hash of it, case-folded, under
/// a key derived from the storage key (`hashed`). Never the password.
pub fn audit_user(mode: AuditUsername, storage: &StorageKey, username: &str) -> String {
    let username = username.trim();
    match mode {
        AuditUsername::Plain => username.escape_debug().to_string(),
        AuditUsername::Hashed => format!(
            "hmac:{}",
            b64url(&storage.keyed_hash(Purpose::AuditUsername, counted_name(username).as_bytes()))
        ),
    }
}

/// The counters a login attempt is counted under.
#[derive(Debug, Clone)]
pub struct Counters {
    /// `ua:<hash>:<ip>`: the username from this address.
    pub user_address: String,
    /// `addr:<ip>`: the address.
    pub address: String,
    /// `user:<hash>`: the username.
    pub user: String,
    /// Counted through Auth0's `login` script ([`Counters::for_script`]):
    /// every counter is the username's, so each locks at
    /// `max_failures_per_user`.
    pub through_script: bool,
}

impl Counters {
    /// Counters for `username` from `client`.
    pub fn new(username: &str, client: IpAddr) -> Self {
        let hash = user_hash(username);
        Self {
            user_address: format!("ua:{hash}:{client}"),
            address: format!("addr:{client}"),
            user: format!("user:{hash}"),
            through_script: false,
        }
    }

    /// Counters for `username` tried through Auth0's `login` script, which
    /// always calls from one of Auth0's few outbound addresses, never the
    /// person's. Per address, a counter would be every person's at once, and
    /// `max_failures_per_address` typos, by anyone, would stop every
    /// migration for the lockout; per username and Auth0's address, anyone
    /// typing `max_failures_per_user_and_address` wrong passwords at Auth0
    /// would lock that person out of migration. So the script's two narrow
    /// counters are the username's own (`ua:script:<hash>`,
    /// `addr:script:<hash>`, cleared by `unlock` with the rest) and lock only
    /// at the username's ceiling, `max_failures_per_user`; the username's
    /// own counter is the login page's, so a person is counted once on both
    /// paths. The per-user-and-address limit there is Auth0's brute-force
    /// protection's, and guessing across accounts from one address Auth0's
    /// suspicious IP throttling's: both see the person's address. The keys
    /// are not the login page's, so a page reached from Auth0's address (a
    /// proxy not in `trusted_proxies`) does not lock the script by its own
    /// lockout.
    pub fn for_script(username: &str) -> Self {
        let hash = user_hash(username);
        Self {
            user_address: format!("ua:script:{hash}"),
            address: format!("addr:script:{hash}"),
            user: format!("user:{hash}"),
            through_script: true,
        }
    }

    /// The keys, as the store takes them.
    pub fn keys(&self) -> ThrottleKeys<'_> {
        ThrottleKeys {
            user_address: &self.user_address,
            address: &self.address,
            user: &self.user,
            address_is_users: self.through_script,
        }
    }

    /// What settling this attempt gives back: one attempt under each
    /// counter, and after a success the username-and-address count. The
    /// username's own count is not forgotten: the ceiling across addresses
    /// runs out with its window, so the owner's sign-ins buy a distributed
    /// guesser no more guesses.
    pub fn release(&self, success: bool) -> ThrottleRelease<'_> {
        ThrottleRelease {
            keys: self.keys(),
            forget: success.then_some(self.user_address.as_str()),
        }
    }
}

/// Which counter a lockout is under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The username from one address.
    UserAddress,
    /// The address, for every username.
    Address,
    /// The username, from every address.
    User,
}

impl Scope {
    /// The name in audit lines and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UserAddress => "user_address",
            Self::Address => "address",
            Self::User => "user",
        }
    }
}

/// An attempt's counts in the window, itself included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// The username from this address.
    pub user_address: i64,
    /// The address.
    pub address: i64,
    /// The username.
    pub user: i64,
}

impl Counts {
    /// Each count with its scope and limit, the narrowest first; through
    /// the script, each at the username's ceiling ([`Counters::for_script`]).
    fn with_limits(
        self,
        settings: &ThrottleSettings,
        through_script: bool,
    ) -> [(Scope, i64, i64); 3] {
        let per_user = settings.max_failures_per_user;
        let (user_address, address) = if through_script {
            (per_user, per_user)
        } else {
            (
                settings.max_failures_per_user_and_address,
                settings.max_failures_per_address,
            )
        };
        [
            (Scope::UserAddress, self.user_address, user_address),
            (Scope::Address, self.address, address),
            (Scope::User, self.user, per_user),
        ]
    }
}

/// What a reservation allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserved {
    /// The attempt may reach the legacy IdP.
    Go(Counts),
    /// Locked, or past a limit while earlier attempts are still out: the
    /// legacy IdP is not asked, and the reservation was given back.
    Refused {
        /// Seconds until the person may try again.
        locked_for: i64,
        /// The counter that refused.
        scope: Scope,
        /// The username-and-address count (for the answer's delay).
        attempt: i64,
    },
}

/// Reserves the attempt under its three counters before the legacy IdP is
/// asked, so however many attempts arrive at once, on however many
/// instances, at most the configured number per counter reach it. A
/// refused attempt gives its reservation back at once: attempts at a
/// locked pair do not add up on the address or the username, so hammering
/// one's own lockout cannot lock the username everywhere.
pub async fn reserve<S: ThrottleStore + ?Sized>(
    store: &S,
    settings: &ThrottleSettings,
    counters: &Counters,
    now: UnixTime,
) -> Result<Reserved, StoreError> {
    let rows = store
        .throttle_reserve(counters.keys(), now.as_secs(), settings.window_seconds)
        .await?;
    let of = |key: &str| rows.iter().find(|c| c.key == key);
    let counts = Counts {
        user_address: of(&counters.user_address).map_or(0, |c| c.attempts),
        address: of(&counters.address).map_or(0, |c| c.attempts),
        user: of(&counters.user).map_or(0, |c| c.attempts),
    };
    let locked = [
        (Scope::UserAddress, &counters.user_address),
        (Scope::Address, &counters.address),
        (Scope::User, &counters.user),
    ]
    .into_iter()
    .filter_map(|(scope, key)| {
        of(key)
            .map(|c| (UnixTime::from_secs(c.locked_until), scope))
            .filter(|(until, _)| *until > now)
    })
    .max_by_key(|(until, _)| *until);
    let refused = match locked {
        Some((until, scope)) => Some((until.seconds_since(now), scope)),
        None => counts
            .with_limits(settings, counters.through_script)
            .into_iter()
            .find(|(_, count, max)| count > max)
            .map(|(scope, _, _)| (settings.lockout_seconds, scope)),
    };
    match refused {
        // A locked key counted nothing, but the others did: giving one
        // back from each leaves the locked key's count as it was, since
        // its count starts afresh when the lockout ends.
        Some((locked_for, scope)) => {
            store.throttle_release(counters.release(false)).await?;
            Ok(Reserved::Refused {
                locked_for,
                scope,
                attempt: counts.user_address,
            })
        }
        None => Ok(Reserved::Go(counts)),
    }
}

/// How long a failed attempt waits before it is answered: the same for a
/// wrong password, a locked account and a throttled attempt at the same
/// count, growing with the username-and-address count.
pub fn delay(settings: &ThrottleSettings, attempt: i64) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
    Duration::from_millis(
        settings
            .base_delay_ms
            .saturating_mul(1u64 << exponent)
            .min(settings.max_delay_ms),
    )
}

/// A wrong password: the reservation stays counted, and a counter whose
/// count reached its limit with this attempt is locked (only then: the
/// last failure to be reserved saw every earlier one, so it is the one
/// that locks; the store checks the count still stands). Returns the
/// narrowest lockout that began.
pub async fn failed<S: ThrottleStore + ?Sized>(
    store: &S,
    settings: &ThrottleSettings,
    counters: &Counters,
    counts: Counts,
    now: UnixTime,
) -> Result<Option<Scope>, StoreError> {
    let until = now.plus(settings.lockout_seconds).as_secs();
    let mut began = None;
    for (scope, count, max) in counts.with_limits(settings, counters.through_script) {
        if count >= max {
            let key = match scope {
                Scope::UserAddress => &counters.user_address,
                Scope::Address => &counters.address,
                Scope::User => &counters.user,
            };
            store.throttle_lock(key, max, until).await?;
            began = began.or(Some(scope));
        }
    }
    Ok(began)
}

/// Anything but a wrong password gives the reservation back; a successful
/// login also forgets the username-and-address count.
pub async fn settle<S: ThrottleStore + ?Sized>(
    store: &S,
    counters: &Counters,
    success: bool,
) -> Result<(), StoreError> {
    store.throttle_release(counters.release(success)).await
}

/// Clears every counter of `username` — from each address and across
/// addresses, on every instance — so its next attempt from anywhere starts
/// afresh; address counters stay (they belong to no username). Returns how
/// many counters were removed. The caller records the `user_unlocked`
/// audit event: it knows who asked.
pub async fn unlock<S: ThrottleStore + ?Sized>(
    store: &S,
    username: &str,
) -> Result<u64, StoreError> {
    store.throttle_clear(&user_key(username)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::secret::Key32;

    #[test]
    fn every_unicode_form_of_a_username_is_counted_as_one() {
        for form in ["ＡＬＩＣＥ", "ａlice", "\u{2003}Alice\u{3000}"] {
            assert_eq!(user_key(form), user_key("alice"), "{form:?}");
        }
        // A decomposed accent and a composed one; a ligature.
        assert_eq!(user_key("jose\u{301}"), user_key("JOSÉ"));
        assert_eq!(user_key("ﬁona"), user_key("fiona"));
        assert_ne!(user_key("alice"), user_key("alice2"));
    }

    #[test]
    fn a_username_s_keys_share_its_hash_and_fold_case() {
        let client: IpAddr = "192.0.2.1".parse().expect("ip");
        let counters = Counters::new(" Alice ", client);
        assert_eq!(counters.user, user_key("alice"));
        assert_eq!(
            counters.user_address,
            format!("ua:{}:192.0.2.1", &counters.user["user:".len()..])
        );
        assert_eq!(counters.address, "addr:192.0.2.1");
        assert_eq!(
            counters.release(true).forget,
            Some(counters.user_address.as_str())
        );
    }

    #[test]
    fn audit_usernames_are_escaped_or_keyed_hashes() {
        let storage = StorageKey::new(&Key32::new([7; 32]));
        assert_eq!(
            audit_user(AuditUsername::Plain, &storage, " bob\nevent=forged "),
            "bob\\nevent=forged"
        );
        let hashed = audit_user(AuditUsername::Hashed, &storage, "Alice");
        assert!(hashed.starts_with("hmac:") && !hashed.contains("lice"));
        assert_eq!(
            hashed,
            audit_user(AuditUsername::Hashed, &storage, "alice "),
            "case-folded, trimmed"
        );
    }
}
