//! The protocol's unit tests, without HTTP, over the in-memory store
//! ([`crate::domain::store::memory::MemoryStore`]), and their fixtures: registered
//! clients, a storage key, signing keys, a legacy IdP whose renewals the
//! test decides, and the narrow inputs the handlers would build from the
//! state.

mod authorize;
mod client_auth;
mod code;
mod exchange;
mod revocation;
mod userinfo;

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::client_auth::ClientAuth;
use super::code::CodeIssuer;
use super::token_issuer::TokenIssuer;
use crate::domain::config::{AuthMethod, Client, RefreshPolicy, TokenSettings};
use crate::domain::keys::{SigningAlg, SigningKeys};
use crate::domain::metrics::Metrics;
use crate::domain::store::memory::MemoryStore;
use crate::domain::upstream::{LegacyGrant, LegacyIdp, Profile, RenewedGrant, UpstreamError};
use crate::util::crypto::{StorageKey, sha256};
use crate::util::secret::{Key32, LegacyAccessToken, LegacyRefreshToken, Password};

/// The issuer every fixture uses.
pub const ISSUER: &str = "https://bridge.example";
/// Every client's one redirect URI.
pub const REDIRECT_URI: &str = "https://app.example/callback";

/// A client `id` with the secret `secret-{id}`, Basic and post allowed.
pub fn client(id: &str) -> Client {
    Client {
        id: crate::domain::types::ClientId::new(id).expect("a client id"),
        secret_sha256: Some(sha256(format!("secret-{id}").as_bytes())),
        assertion_keys: Vec::new(),
        redirect_uris: vec![crate::domain::types::RedirectUri::parse(REDIRECT_URI).expect("valid")],
        scopes: ["openid", "profile", "email", "offline_access"]
            .map(str::to_owned)
            .to_vec(),
        require_pkce: false,
        auth_methods: vec![AuthMethod::ClientSecretBasic, AuthMethod::ClientSecretPost],
        refresh: RefreshPolicy::default(),
        post_logout_redirect_uris: Vec::new(),
        id_token_alg: SigningAlg::default(),
        exchange: None,
        validate_legacy_tokens: false,
    }
}

/// Clients by id.
pub fn registry(clients: impl IntoIterator<Item = Client>) -> BTreeMap<String, Client> {
    clients.into_iter().map(|c| (c.id.to_string(), c)).collect()
}

/// A fixed storage key.
pub fn storage() -> StorageKey {
    StorageKey::new(&Key32::new([7; 32]))
}

/// A legacy IdP whose renewals answer what the test set (`renewal`), and
/// that counts them.
#[derive(Debug)]
pub struct FakeIdp {
    /// What `can_renew` says.
    pub renewable: bool,
    /// The next renewal's answer (a token named `renewed-{n}` when `None`).
    pub refuse: Mutex<Option<UpstreamError>>,
    /// Renewals asked for.
    pub renewals: Mutex<u32>,
}

impl FakeIdp {
    /// A legacy IdP that can renew (or not).
    pub fn new(renewable: bool) -> Self {
        Self {
            renewable,
            refuse: Mutex::new(None),
            renewals: Mutex::new(0),
        }
    }

    /// Renewals asked for so far.
    pub fn renewals(&self) -> u32 {
        *self
            .renewals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl LegacyIdp for FakeIdp {
    async fn authenticate(
        &self,
        _username: &str,
        _password: &Password,
    ) -> Result<LegacyGrant, UpstreamError> {
        Err(UpstreamError::Unsupported("passwords"))
    }

    async fn renew(
        &self,
        _refresh_token: &LegacyRefreshToken,
        _known: Option<&Profile>,
    ) -> Result<RenewedGrant, UpstreamError> {
        let n = {
            let mut renewals = self
                .renewals
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *renewals += 1;
            *renewals
        };
        if let Some(refused) = self
            .refuse
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            return Err(refused);
        }
        Ok(RenewedGrant {
            access_token: LegacyAccessToken::new(format!("renewed-{n}")),
            expires_at: crate::util::clock::now_unix() + 3600,
            refresh_token: None,
            profile: None,
        })
    }

    async fn profile(&self, _access_token: &LegacyAccessToken) -> Result<Profile, UpstreamError> {
        Err(UpstreamError::Unsupported("profile"))
    }

    fn can_renew(&self) -> bool {
        self.renewable
    }
}

/// A legacy grant for `subject` with the access token `token`, expiring at
/// `expires_at`, with a legacy refresh token when `refresh`.
pub fn legacy_grant(subject: &str, token: &str, expires_at: i64, refresh: bool) -> LegacyGrant {
    LegacyGrant {
        access_token: LegacyAccessToken::new(token),
        expires_at,
        refresh_token: refresh.then(|| LegacyRefreshToken::new(format!("lrt-{token}"))),
        profile: Profile {
            subject: crate::domain::types::Subject::new(subject).expect("a subject"),
            email: Some(format!("{subject}@example.com")),
            email_verified: None,
            name: None,
            attributes: serde_json::Map::new(),
        },
    }
}

/// Everything a test of the token endpoint's rules needs, owned.
pub struct World {
    /// The store.
    pub store: MemoryStore,
    /// The storage key.
    pub storage: StorageKey,
    /// Signing keys (RS256, generated into the store).
    pub keys: SigningKeys,
    /// Lifetimes.
    pub tokens: TokenSettings,
    /// Clients by id.
    pub clients: BTreeMap<String, Client>,
    /// The legacy IdP.
    pub idp: FakeIdp,
    /// Counters.
    pub metrics: Metrics,
}

impl World {
    /// The clients `ids`, over an empty store, with a legacy IdP that can
    /// renew.
    pub async fn new(ids: &[&str]) -> Self {
        let store = MemoryStore::new();
        let storage = storage();
        let keys = SigningKeys::load_or_generate(&store, &storage, &[])
            .await
            .unwrap_or_else(|e| panic!("signing keys: {e}"));
        Self {
            store,
            storage,
            keys,
            tokens: TokenSettings::default(),
            clients: registry(ids.iter().map(|id| client(id))),
            idp: FakeIdp::new(true),
            metrics: Metrics::new(),
        }
    }

    /// What client authentication reads.
    pub fn client_auth(&self) -> ClientAuth<'_, MemoryStore> {
        ClientAuth {
            clients: &self.clients,
            issuer: ISSUER,
            store: &self.store,
            metrics: &self.metrics,
        }
    }

    /// What the code and refresh grants use.
    pub fn token_issuer(&self) -> TokenIssuer<'_, MemoryStore> {
        TokenIssuer {
            store: &self.store,
            storage: &self.storage,
            keys: &self.keys,
            issuer: ISSUER,
            id_token_ttl: self.tokens.id_token_ttl_seconds,
            upstream: &self.idp,
            metrics: &self.metrics,
        }
    }

    /// What issuing a code uses.
    pub fn code_issuer(&self) -> CodeIssuer<'_, MemoryStore> {
        CodeIssuer {
            store: &self.store,
            storage: &self.storage,
            keys: &self.keys,
            issuer: ISSUER,
            tokens: &self.tokens,
            clients: &self.clients,
            exchange_session_seconds: None,
        }
    }

    /// The client `id`.
    pub fn client(&self, id: &str) -> &Client {
        self.clients
            .get(id)
            .unwrap_or_else(|| panic!("no client {id}"))
    }
}

/// A whole sign-in of `grant`'s user at client `app` asking for `scopes`:
/// the code issued, then redeemed at the token endpoint. The issued code
/// (its grant id) and the token answer.
pub async fn sign_in(
    world: &World,
    scopes: &[&str],
    grant: &LegacyGrant,
) -> (super::code::Issued, super::messages::TokenResponse) {
    let now = crate::util::clock::now_unix();
    let request = super::authorize::AuthorizationRequest {
        client_id: crate::domain::types::ClientId::new("app").expect("valid"),
        redirect_uri: crate::domain::types::RedirectUri::parse(REDIRECT_URI).expect("valid"),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        state: None,
        nonce: None,
        code_challenge: None,
        login_hint: None,
        form_post: false,
        prompt_none: false,
        max_age: None,
        hint_sub: None,
        claims: super::claims::RequestedClaims::default(),
        expires_at: crate::domain::types::UnixTime::from_secs(now + 600),
    };
    let issued = super::code::issue_code(
        &world.code_issuer(),
        &request,
        grant,
        super::code::IssuedFor::SignIn(None, None),
        super::code::CodeTimes::signed_in_now(crate::domain::types::UnixTime::from_secs(now)),
    )
    .await
    .expect("stored")
    .expect("issued");
    let presented = super::token::Presented {
        code: &issued.code,
        redirect_uri: REDIRECT_URI,
        code_verifier: None,
    };
    let answer = super::token::authorization_code(
        &world.token_issuer(),
        world.client("app"),
        &presented,
        crate::domain::types::UnixTime::from_secs(now),
    )
    .await
    .expect("redeemed");
    (issued, answer)
}
