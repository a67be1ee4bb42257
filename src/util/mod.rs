//! The leaves: pieces that know nothing of the bridge's protocol. Sealing
//! and hashing ([`crypto`]), the LT1 codec ([`legacy_token`]), secret types
//! ([`secret`]), the clock ([`clock`]), addresses ([`net`]), templates
//! ([`html`]), a refusal's log record ([`refusal`]), request ids
//! ([`request_id`]), TLS certificates and their reload ([`tls`]), and a
//! connection's place under the listener's caps ([`connection_slot`]). A leaf
//! imports no other part of the crate but [`secret`] (`tests/layers.rs`).

pub mod clock;
pub mod connection_slot;
pub mod crypto;
pub mod html;
pub mod legacy_subject;
pub mod legacy_token;
pub mod log_format;
pub mod net;
pub mod refusal;
pub mod request_id;
pub mod secret;
pub mod tls;
