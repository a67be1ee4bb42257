//! Address rules shared by configuration checks: plain `http` is accepted
//! only for loopback hosts (tests, the demo, a sidecar), never across a
//! network. A leaf: it depends on nothing in the crate.

/// Whether `url` names a loopback host (`localhost`, 127.0.0.0/8, `::1`).
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}
