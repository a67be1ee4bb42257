//! The wall clock in unix seconds: the one time source of tokens, codes,
//! grants, throttling and keys. A leaf: it depends on nothing in the crate.

/// The current time in unix seconds.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The current time in unix microseconds, where seconds (or even
/// milliseconds: two requests on loopback can share one) cannot tell one
/// person's events apart (the order of a browser's sign-ins).
pub fn now_unix_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}
