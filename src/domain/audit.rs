//! Audit events: one structured log line per security-relevant fact, on the
//! `audit` target (at info; a fact as routine and frequent as a successful
//! token exchange at debug, [`audit_debug!`](crate::audit_debug!), so it never dominates the
//! log; its counter still sees each one), inside the request's span (which carries its
//! `request_id`, also sent back as `x-request-id`). They name the client,
//! the subject and the reason class, never a secret: no password, token,
//! code or key is ever a field. Each event is also counted in the metrics
//! (`idp_bridge_events_total{event, reason}`), so the first argument is the
//! [`crate::domain::metrics::Metrics`] to count it in; a `reason` given first becomes
//! the counter's `reason` label (a fixed class, never input).

/// Emits an audit event at info level and counts it.
#[macro_export]
macro_rules! audit {
    ($metrics:expr, $event:literal, reason = $reason:expr $(, $($field:tt)*)?) => {{
        let reason: &'static str = $reason;
        $metrics.event($event, reason);
        tracing::info!(target: "audit", event = $event, reason $(, $($field)*)?, "audit")
    }};
    ($metrics:expr, $event:literal $(, $($field:tt)*)?) => {{
        $metrics.event($event, "");
        tracing::info!(target: "audit", event = $event $(, $($field)*)?, "audit")
    }};
}

/// Emits an audit event that needs attention (a replay, a reuse) at warn
/// level and counts it.
#[macro_export]
macro_rules! audit_warn {
    ($metrics:expr, $event:literal, $message:literal $(, $($field:tt)*)?) => {{
        $metrics.event($event, "");
        tracing::warn!(target: "audit", event = $event $(, $($field)*)?, $message)
    }};
}

/// Emits a routine, high-volume audit event (a successful token exchange:
/// up to thousands a second) at debug level and counts it: the counter
/// sees every one, the log only with `IDP_BRIDGE_LOG=info,audit=debug`.
#[macro_export]
macro_rules! audit_debug {
    ($metrics:expr, $event:literal, reason = $reason:expr $(, $($field:tt)*)?) => {{
        let reason: &'static str = $reason;
        $metrics.event($event, reason);
        tracing::debug!(target: "audit", event = $event, reason $(, $($field)*)?, "audit")
    }};
}
