//! What the Auth0 printers share and depend on nothing of theirs: HCL
//! literals written the way Terraform reads them, Auth0's rule for a
//! connection name, and whether Auth0's cloud can reach an address.

use std::fmt::Write as _;

/// An HCL string literal: HCL's escapes (`\"`, `\\`, `\n`, `\r`, `\t`,
/// `\uNNNN`; not JSON's `\b` and `\f`), and `${`/`%{` doubled so
/// Terraform does not read them as templates.
pub(crate) fn hcl_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(ch);
                out.push(ch);
            }
            ch if ch.is_control() => {
                let mut units = [0u16; 2];
                for unit in ch.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            ch => out.push(ch),
        }
    }
    out.push('"');
    out
}

/// Attribute lines with their `=` aligned, as `terraform fmt` writes them.
pub(crate) fn hcl_attributes(out: &mut String, indent: &str, attributes: &[(&str, String)]) {
    let width = attributes.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in attributes {
        let _ = writeln!(out, "{indent}{key:width$} = {value}");
    }
}

/// A Terraform identifier from the connection name.
pub(crate) fn hcl_identifier(name: &str) -> String {
    let id = name.replace('-', "_");
    if id.starts_with(|ch: char| ch.is_ascii_digit()) {
        format!("c_{id}")
    } else {
        id
    }
}

/// Why Auth0's cloud cannot call `issuer` (its discovery, token and JWKS
/// endpoints are fetched from Auth0's servers), or `None`: plain `http://`,
/// or a loopback, private, link-local or unique-local host.
pub(crate) fn unreachable_issuer(issuer: &url::Url) -> Option<&'static str> {
    use std::net::IpAddr;
    if issuer.scheme() != "https" {
        return Some("is not https://");
    }
    let local = match issuer.host()? {
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        url::Host::Ipv4(ip) => {
            let ip = IpAddr::V4(ip);
            ip.is_loopback() || ip.is_unspecified() || is_private(ip)
        }
        url::Host::Ipv6(ip) => {
            let ip = ip.to_ipv4_mapped().map_or(IpAddr::V6(ip), IpAddr::V4);
            ip.is_loopback() || ip.is_unspecified() || is_private(ip)
        }
    };
    local.then_some("is a loopback or private address")
}

/// RFC 1918, link-local, CGNAT (RFC 6598), IPv6 unique-local and link-local.
fn is_private(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private() || v4.is_link_local() || (a == 100 && (64..128).contains(&b))
        }
        std::net::IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

/// Auth0's rule for a connection name: letters, digits and dashes, starting
/// and ending with a letter or digit, at most 128 characters.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "auth0: --name `{name}`: a connection name has letters, digits and dashes, and starts and ends with a letter or digit"
        ))
    }
}

/// A Terraform file's opening: the `auth0/auth0` provider pinned at
/// `minimum` or later, and the one sensitive string variable (`var`) the
/// printed resources read their secret from.
pub(crate) fn terraform_prelude(minimum: &str, var: &str, description: &str) -> String {
    let mut out = format!(
        "terraform {{\n  required_providers {{\n    auth0 = {{\n      source  = \"auth0/auth0\"\n      version = \">= {minimum}\"\n    }}\n  }}\n}}\n\n"
    );
    let _ = writeln!(out, "variable \"{var}\" {{");
    hcl_attributes(
        &mut out,
        "  ",
        &[
            ("description", hcl_string(description)),
            ("type", "string".into()),
            ("sensitive", "true".into()),
        ],
    );
    out.push_str("}\n\n");
    out
}
