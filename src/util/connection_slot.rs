//! A connection's place under a listener's connection caps, carried in its
//! requests' extensions. The accept loop (`app::server`) makes one per
//! admitted connection; a handler that takes the connection over (the
//! gateway's WebSocket tunnel) keeps it, so an upgraded connection still
//! counts until the tunnel closes. It lives here, below both, so the gateway
//! does not import the edge.

use std::any::Any;
use std::sync::Arc;

/// Holds whatever the accept loop counts a connection by; the count is
/// given back when the last clone is dropped.
#[derive(Clone)]
pub struct ConnectionSlot(#[allow(dead_code)] Arc<dyn Any + Send + Sync>);

impl ConnectionSlot {
    /// A slot holding `admitted` until the last clone is dropped.
    pub fn new(admitted: Arc<dyn Any + Send + Sync>) -> Self {
        Self(admitted)
    }
}
