//! The wall clock in unix seconds: the one time source of tokens, codes,
//! grants, throttling and keys. A leaf: it depends on nothing in the crate.

/// The current time in unix seconds.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The current time in unix milliseconds, where seconds cannot tell two
/// events of one person apart (the order of a browser's sign-ins).
pub fn now_unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
