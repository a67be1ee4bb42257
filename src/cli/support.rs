//! What every command body shares: a runtime for the async ones.

/// A multi-threaded runtime, or an error that says it could not start.
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))
}
