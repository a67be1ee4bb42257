//! Scheduled signing-key rotation (`[keys] rotate_every_seconds`): each
//! instance looks at the stored keys every reload interval; when the newest
//! key of an algorithm is due to be replaced, one instance — the one whose
//! claim on that key lands in the store first — generates the successor and
//! stores it to sign from when the current key's period ends, and at least
//! `activation_delay_seconds` from now, so it is published in JWKS before it
//! signs anything. Keys whose every ID token has expired are then retired
//! (`keys::prunable`).
//!
//! The claim is a row in the single-use table the store already keeps for
//! client assertions (`Store::use_assertion`: an insert that does nothing on
//! conflict), keyed by the kid being replaced, so on PostgreSQL two
//! instances that see the same key due produce one successor between them.
//! A claim lives a few minutes: an instance that dies between claiming and
//! storing the key leaves the rotation to another once the claim expires.

use crate::domain::keys::{KeysError, SigningAlg, algorithms_in, generate_sealed, prunable};
use crate::domain::store::{Store, StoredKey};
use crate::util::crypto::StorageKey;

/// When keys rotate: every `every` seconds, each successor published `lead`
/// seconds before it signs, old keys kept `max_token_ttl` seconds after they
/// stop signing.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// How long a key signs.
    pub every: i64,
    /// How long a successor is published before it signs.
    pub lead: i64,
    /// The longest lifetime of a token a key signs (the ID token's).
    pub max_token_ttl: i64,
}

/// How long a claim on a rotation holds before another instance may retry.
const CLAIM_SECONDS: i64 = 120;

/// A successor that is due: its algorithm, the kid it replaces and when it
/// signs from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The algorithm.
    pub alg: SigningAlg,
    /// The newest key of the algorithm, which the successor follows.
    pub replaces: String,
    /// When the successor signs from.
    pub activates_at: i64,
}

/// The successors due at `now`: for each algorithm in use, one when its
/// newest key (the one signing, or the one published to sign next) has less
/// than `lead` seconds of its period left.
pub fn due(stored: &[StoredKey], now: i64, schedule: Schedule) -> Vec<Due> {
    if schedule.every <= 0 || schedule.every <= schedule.lead {
        return Vec::new();
    }
    algorithms_in(stored)
        .into_iter()
        .filter_map(|alg| {
            let newest = stored
                .iter()
                .filter(|k| k.alg == alg.as_str())
                .max_by_key(|k| (k.activates_at, k.created_at))?;
            let ends = newest.activates_at.saturating_add(schedule.every);
            (ends.saturating_sub(schedule.lead) <= now).then(|| Due {
                alg,
                replaces: newest.kid.clone(),
                activates_at: ends.max(now.saturating_add(schedule.lead)),
            })
        })
        .collect()
}

/// What one pass did.
#[derive(Debug, Default)]
pub struct Rotated {
    /// Keys this instance generated and published.
    pub published: Vec<StoredKey>,
    /// Keys this instance retired.
    pub retired: Vec<String>,
}

/// One scheduled pass at `now`: publishes each due successor (once across
/// instances) and retires keys whose tokens have all expired.
pub async fn rotate_due(
    store: &dyn Store,
    storage: &StorageKey,
    schedule: Schedule,
    now: i64,
) -> Result<Rotated, KeysError> {
    let mut out = Rotated::default();
    let stored = store.signing_keys().await?;
    for due in due(&stored, now, schedule) {
        let claim = format!("signing-key-rotation:{}", due.replaces);
        if !store.use_assertion(&claim, now + CLAIM_SECONDS).await? {
            continue; // another instance is rotating it, or has
        }
        let key = match generate_sealed(storage, due.alg, due.activates_at).await {
            Ok(key) => key,
            Err(e) => {
                let _ = store.forget_assertion(&claim).await;
                return Err(e);
            }
        };
        if let Err(e) = store.insert_signing_key(&key).await {
            let _ = store.forget_assertion(&claim).await;
            return Err(e.into());
        }
        out.published.push(key);
    }
    let stored = if out.published.is_empty() {
        stored
    } else {
        store.signing_keys().await?
    };
    for kid in prunable(&stored, now, schedule.max_token_ttl) {
        store.delete_signing_key(&kid).await?;
        out.retired.push(kid);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(kid: &str, alg: &str, activates_at: i64) -> StoredKey {
        StoredKey {
            kid: kid.into(),
            alg: alg.into(),
            private_sealed: vec![],
            public_jwk: "{}".into(),
            created_at: activates_at,
            activates_at,
        }
    }

    const S: Schedule = Schedule {
        every: 1000,
        lead: 100,
        max_token_ttl: 60,
    };

    #[test]
    fn a_successor_is_due_lead_seconds_before_the_period_ends_and_signs_at_its_end() {
        let keys = [k("a", "RS256", 0)];
        assert!(due(&keys, 899, S).is_empty());
        assert_eq!(
            due(&keys, 900, S),
            vec![Due {
                alg: SigningAlg::RS256,
                replaces: "a".into(),
                activates_at: 1000
            }]
        );
    }

    #[test]
    fn after_a_long_stop_the_successor_is_still_published_before_it_signs() {
        let keys = [k("a", "RS256", 0)];
        assert_eq!(due(&keys, 50_000, S)[0].activates_at, 50_100);
    }

    #[test]
    fn a_published_successor_is_not_replaced_before_its_own_period_ends() {
        let keys = [k("a", "RS256", 0), k("b", "RS256", 1000)];
        assert!(
            due(&keys, 950, S).is_empty(),
            "b is the newest, due at 1900"
        );
        assert_eq!(due(&keys, 1900, S)[0].replaces, "b");
    }

    #[test]
    fn each_algorithm_rotates_on_its_own_and_nothing_rotates_when_off() {
        let keys = [k("r", "RS256", 0), k("e", "ES256", 500)];
        let algs: Vec<SigningAlg> = due(&keys, 1000, S).into_iter().map(|d| d.alg).collect();
        assert_eq!(algs, vec![SigningAlg::RS256]);
        let off = Schedule { every: 0, ..S };
        assert!(due(&keys, 1_000_000, off).is_empty());
        let too_short = Schedule { every: 100, ..S };
        assert!(
            due(&keys, 1_000_000, too_short).is_empty(),
            "a period no longer than the lead would chain keys without end"
        );
    }
}
