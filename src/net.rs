//! Address rules shared by configuration checks: a bind address is
//! `host:port`; plain `http` is accepted
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

/// An address to bind: `host:port` with a port a socket can have, so a typo
/// fails the config check instead of the start.
pub fn check_address(key: &str, value: &str, problems: &mut Vec<String>) {
    let port_ok = value
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if !port_ok {
        problems.push(format!(
            "{key}: `{value}` is not host:port with a port from 0 to 65535"
        ));
    }
}
