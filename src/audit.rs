//! Audit events: one structured log line per security-relevant fact, on the
//! `audit` target, inside the request's span (which carries its
//! `request_id`, also sent back as `x-request-id`). They name the client,
//! the subject and the reason class, never a secret: no password, token,
//! code or key is ever a field.

/// Emits an audit event.
#[macro_export]
macro_rules! audit {
    ($event:literal $(, $($field:tt)*)?) => {
        tracing::info!(target: "audit", event = $event $(, $($field)*)?, "audit")
    };
}
