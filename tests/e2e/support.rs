//! Shared test helpers: a reference legacy IdP and API on port 0 with fresh
//! keys, and adapter construction from TOML text.

use idp_bridge::config::LegacyConfig;
use idp_bridge::legacy_token::Lt1Keys;
use idp_bridge::reference::RunningServer;
use idp_bridge::reference::legacy_idp::{LegacyIdp, LegacyIdpOptions};
use idp_bridge::secret::Key32;
use idp_bridge::upstream::{self, UpstreamConfig};
use rand::RngCore;
use std::sync::Arc;

/// The reference legacy IdP and API, running on port 0.
pub struct LegacyStack {
    pub idp: LegacyIdp,
    pub idp_server: RunningServer,
    pub api_server: RunningServer,
    pub keys: Lt1Keys,
    pub key_hex: String,
}

impl LegacyStack {
    pub async fn spawn() -> Self {
        let mut raw = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut raw);
        let key_hex = hex::encode(raw);
        let keys = Lt1Keys::new(vec![("test".into(), Key32::new(raw))], None).expect("keys");
        let idp = LegacyIdp::new(LegacyIdpOptions::demo(keys.clone()));
        let idp_server = RunningServer::bind("127.0.0.1:0", idp.router())
            .await
            .expect("bind idp");
        let api_server = RunningServer::bind(
            "127.0.0.1:0",
            idp_bridge::reference::legacy_api::router(keys.clone()),
        )
        .await
        .expect("bind api");
        Self {
            idp,
            idp_server,
            api_server,
            keys,
            key_hex,
        }
    }

    pub fn idp_url(&self) -> String {
        self.idp_server.url()
    }

    /// Asks the reference legacy API whether it accepts `token`.
    pub async fn api_accepts(&self, token: &str) -> bool {
        let status = reqwest::Client::new()
            .get(format!("{}/api/orders", self.api_server.url()))
            .bearer_auth(token)
            .send()
            .await
            .expect("legacy API reachable")
            .status();
        status.is_success()
    }
}

/// Builds an adapter from the text of a config file (with `[upstream]` and
/// optionally `[legacy_token]`).
pub fn adapter(toml_text: &str) -> Arc<dyn upstream::LegacyIdp> {
    let file = tempfile::NamedTempFile::new().expect("temp");
    std::fs::write(file.path(), toml_text).expect("write config");
    let config: LegacyConfig =
        idp_bridge::config::load_raw(Some(file.path()), &[]).expect("config parses");
    let keys = config.legacy_token.keys().expect("keys");
    let upstream: UpstreamConfig = config.upstream.expect("an [upstream] section");
    upstream::build(&upstream, keys).expect("adapter builds")
}

/// An address on which nothing listens (bound, then released).
pub async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}
