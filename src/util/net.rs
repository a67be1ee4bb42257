//! Address rules shared by configuration checks: a bind address is
//! `host:port`; plain `http` is accepted
//! only for loopback hosts (tests, the demo, a sidecar), never across a
//! network; trusted proxies are addresses or networks, and a forwarded
//! client address is believed only through them ([`client_address`]). A
//! leaf: it depends on nothing in the crate.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

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

/// Addresses or networks (`10.0.0.0/8`, `192.0.2.7`, `::1`) under `key`,
/// each one that does not parse named as a problem.
pub fn check_networks(key: &str, values: &[String], problems: &mut Vec<String>) -> Vec<IpNet> {
    let mut networks = Vec::with_capacity(values.len());
    for (i, value) in values.iter().enumerate() {
        let parsed = value
            .parse::<IpNet>()
            .or_else(|_| value.parse::<IpAddr>().map(IpNet::from));
        match parsed {
            Ok(net) => networks.push(net),
            Err(_) => problems.push(format!(
                "{key}[{i}]: `{value}` is not an address or a network like 10.0.0.0/8"
            )),
        }
    }
    networks
}

/// The client's address behind a chain of proxies: `peer` itself unless it
/// is one of `trusted`; then the `X-Forwarded-For` entries in `forwarded`
/// (its header values in order, each a comma-separated list, the nearest
/// hop last) are read from the right, past every trusted proxy, to the first
/// address that is not one — nginx's `realip` with `real_ip_recursive on`.
/// Entries left of it were written by the client and are never believed.
/// An entry that is not an address ends the walk at the last address
/// vouched for. IPv4-mapped IPv6 addresses count as IPv4.
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded: impl IntoIterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    let mut client = peer.to_canonical();
    if !is_trusted(&client) {
        return client;
    }
    let entries: Vec<&str> = forwarded.into_iter().flat_map(|v| v.split(',')).collect();
    for entry in entries.into_iter().rev() {
        let entry = entry.trim();
        let Some(hop) = entry
            .parse::<IpAddr>()
            .ok()
            .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        else {
            break;
        };
        client = hop.to_canonical();
        if !is_trusted(&client) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        let mut problems = Vec::new();
        let list: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
        let nets = check_networks("trusted", &list, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        nets
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn a_forwarded_address_is_believed_only_from_a_trusted_proxy() {
        let trusted = nets(&["10.0.0.0/8", "192.0.2.7"]);
        let xff = ["198.51.100.9"];
        assert_eq!(
            client_address(ip("203.0.113.5"), xff, &trusted),
            ip("203.0.113.5"),
            "an untrusted peer's header is ignored"
        );
        assert_eq!(
            client_address(ip("192.0.2.7"), xff, &trusted),
            ip("198.51.100.9")
        );
        assert_eq!(
            client_address(ip("192.0.2.7"), [], &trusted),
            ip("192.0.2.7"),
            "a trusted proxy without the header is the client"
        );
    }

    #[test]
    fn the_rightmost_untrusted_entry_is_the_client() {
        let trusted = nets(&["10.0.0.0/8"]);
        // The client wrote the first two entries itself; the proxies
        // appended the rest.
        let xff = ["1.1.1.1, 2.2.2.2", "198.51.100.9, 10.0.0.3"];
        assert_eq!(
            client_address(ip("10.0.0.2"), xff, &trusted),
            ip("198.51.100.9")
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), ["10.1.1.1, 10.0.0.3"], &trusted),
            ip("10.1.1.1"),
            "every hop trusted: the farthest one"
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), ["garbage, 10.0.0.3"], &trusted),
            ip("10.0.0.3"),
            "an entry that is no address stops at the last one vouched for"
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), ["[2001:db8::7]:4711"], &trusted),
            ip("2001:db8::7")
        );
        assert_eq!(
            client_address(ip("::ffff:10.0.0.2"), [" 198.51.100.9 "], &trusted),
            ip("198.51.100.9"),
            "an IPv4-mapped peer is its IPv4 address"
        );
    }

    #[test]
    fn networks_that_do_not_parse_are_named() {
        let mut problems = Vec::new();
        let list = vec!["10.0.0.0/8".to_owned(), "ten".to_owned()];
        assert_eq!(
            check_networks("throttle.trusted_proxies", &list, &mut problems).len(),
            1
        );
        assert_eq!(
            problems,
            ["throttle.trusted_proxies[1]: `ten` is not an address or a network like 10.0.0.0/8"]
        );
    }
}
