//! Request ids: a random prefix chosen once per process and a counter, so
//! ids are unique across instances without a system call per request (a
//! UUID v4 asks the kernel for randomness every time). Ids are references
//! for operators, not secrets. A leaf: it depends on nothing in the crate.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http::HeaderValue;
use tower_http::request_id::{MakeRequestId, RequestId};

/// Makes `PREFIX-COUNTER` ids (16 hex digits each).
#[derive(Clone, Debug)]
pub struct MakeSequentialId {
    prefix: u64,
    counter: Arc<AtomicU64>,
}

impl Default for MakeSequentialId {
    fn default() -> Self {
        Self {
            prefix: rand::random(),
            counter: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl MakeRequestId for MakeSequentialId {
    fn make_request_id<B>(&mut self, _: &http::Request<B>) -> Option<RequestId> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{:016x}-{n:016x}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}
