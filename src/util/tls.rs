//! Native TLS for the listeners (rustls with ring): loading a PEM certificate
//! chain and private key, checking that they belong together, and serving
//! them through a resolver whose certificate is swapped while the bridge
//! runs — `watch` polls both files and loads a changed pair, so a renewed
//! certificate (certbot, cert-manager, a secret rotation) is served without
//! a restart, and a broken replacement leaves the working one in place.
//! A leaf: it depends on nothing in the crate.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Where the certificate chain and its private key are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM: the leaf certificate first, then any intermediates.
    pub certificate: PathBuf,
    /// PEM: the leaf's private key (PKCS#8, PKCS#1 or SEC1).
    pub private_key: PathBuf,
}

/// The crypto provider every TLS object here uses (ring, like the rest of
/// the crate), named once so no process-wide default is needed.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads and checks the pair: both files parse, the chain is not empty and
/// the key is the leaf certificate's. The error names the file at fault and
/// never contains key material.
pub fn load(files: &TlsFiles) -> Result<CertifiedKey, String> {
    let cert_pem = std::fs::read(&files.certificate)
        .map_err(|e| format!("cannot read {}: {e}", files.certificate.display()))?;
    let key_pem = std::fs::read(&files.private_key)
        .map_err(|e| format!("cannot read {}: {e}", files.private_key.display()))?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            format!(
                "{}: not a PEM certificate chain ({e})",
                files.certificate.display()
            )
        })?;
    if chain.is_empty() {
        return Err(format!(
            "{}: no CERTIFICATE block found",
            files.certificate.display()
        ));
    }
    // The parser's error names the PEM problem, never the key's bytes.
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        format!(
            "{}: not a PEM private key ({e})",
            files.private_key.display()
        )
    })?;
    CertifiedKey::from_der(chain, key, &provider()).map_err(|e| {
        format!(
            "{} and {} do not make a usable pair: {e}",
            files.certificate.display(),
            files.private_key.display()
        )
    })
}

/// What identifies a version of the pair on disk without reading it:
/// each file's modification time and length. A certificate renewed in
/// place changes at least one of them.
type Fingerprint = [(Option<SystemTime>, Option<u64>); 2];

fn fingerprint(files: &TlsFiles) -> Fingerprint {
    let stat = |p: &Path| {
        std::fs::metadata(p).map_or((None, None), |m| (m.modified().ok(), Some(m.len())))
    };
    [stat(&files.certificate), stat(&files.private_key)]
}

/// The certificate the listeners present, swapped in place on reload.
pub struct ReloadingCert {
    files: TlsFiles,
    current: RwLock<Arc<CertifiedKey>>,
    seen: RwLock<Fingerprint>,
}

impl ReloadingCert {
    /// Loads the pair now; the bridge does not start without a usable one.
    pub fn new(files: TlsFiles) -> Result<Arc<Self>, String> {
        let seen = fingerprint(&files);
        let key = load(&files)?;
        Ok(Arc::new(Self {
            files,
            current: RwLock::new(Arc::new(key)),
            seen: RwLock::new(seen),
        }))
    }

    /// The leaf certificate served now (DER).
    pub fn current_leaf(&self) -> Option<CertificateDer<'static>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .cert
            .first()
            .cloned()
    }

    /// Loads the pair again if either file changed since the last look.
    /// A pair that does not load is logged once (per change) and the one
    /// being served stays; a later change is tried again, so a key written
    /// a moment after its certificate is picked up on the next look.
    pub fn reload_if_changed(&self) {
        let now = fingerprint(&self.files);
        {
            let mut seen = self.seen.write().unwrap_or_else(PoisonError::into_inner);
            if *seen == now {
                return;
            }
            *seen = now;
        }
        match load(&self.files) {
            Ok(key) => {
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
                tracing::info!(
                    certificate = %self.files.certificate.display(),
                    "TLS certificate reloaded"
                );
            }
            Err(e) => tracing::error!(
                error = %e,
                "cannot load the changed TLS certificate; still serving the previous one"
            ),
        }
    }

    /// Looks at the files every `every` until the task is dropped.
    pub async fn watch(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            // Reading two small files is quick, but it is file I/O: keep it
            // off the threads that run requests.
            let this = self.clone();
            let _ = tokio::task::spawn_blocking(move || this.reload_if_changed()).await;
        }
    }
}

/// Names the files only: the key stays out of every `Debug`.
impl std::fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}

/// A TLS acceptor presenting `cert`, offering `alpn` (most preferred first).
pub fn acceptor(
    cert: Arc<ReloadingCert>,
    alpn: &[&[u8]],
) -> Result<tokio_rustls::TlsAcceptor, String> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Whether a connection's first byte can start a TLS handshake (a
/// handshake record, RFC 8446 §5.1); plain HTTP starts with a letter.
pub fn starts_tls(first_byte: u8) -> bool {
    first_byte == 0x16
}

/// What a plain-HTTP request to a TLS port is told before it is closed,
/// instead of a handshake failure it cannot read.
pub const PLAIN_HTTP_ON_TLS_PORT: &[u8] = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: 37\r\n\r\nthis port speaks https; use https://\n";

impl ReloadingCert {
    /// When the certificate served now expires (its `notAfter`), unix
    /// seconds, for the expiry metric.
    pub fn not_after(&self) -> Option<i64> {
        not_after(self.current_leaf()?.as_ref())
    }
}

/// The `notAfter` of a DER X.509 certificate (RFC 5280 §4.1.2.5), unix
/// seconds: the walk to `validity` and its second time, nothing more.
pub fn not_after(der: &[u8]) -> Option<i64> {
    let (certificate, _) = sequence(der)?;
    let (mut tbs, _) = sequence(certificate)?;
    if tbs.first() == Some(&0xa0) {
        tbs = tlv(tbs)?.2; // [0] EXPLICIT version
    }
    for _ in 0..3 {
        tbs = tlv(tbs)?.2; // serialNumber, signature, issuer
    }
    let (validity, _) = sequence(tbs)?;
    let not_after = tlv(validity)?.2; // past notBefore
    let (tag, value, _) = tlv(not_after)?;
    der_time(tag, value)
}

/// One DER element: its tag, its value and what follows it.
fn tlv(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

fn sequence(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (tag, value, rest) = tlv(der)?;
    (tag == 0x30).then_some((value, rest))
}

/// A UTCTime (`YYMMDDHHMMSSZ`, years 1950–2049) or GeneralizedTime
/// (`YYYYMMDDHHMMSSZ`) as unix seconds.
fn der_time(tag: u8, value: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(value).ok()?.strip_suffix('Z')?;
    // Digits only, so every slice below falls on a character boundary.
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (year, rest) = match (tag, text.len()) {
        (0x17, 12) => {
            let yy: i64 = text[..2].parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        (0x18, 14) => (text[..4].parse().ok()?, &text[4..]),
        _ => return None,
    };
    let field = |i: usize| rest[i..i + 2].parse::<i64>().ok();
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_s_not_after_is_read_from_its_der() {
        let key = rcgen::KeyPair::generate().expect("key");
        for (year, month, day, expected) in
            [(2031, 5, 6, 1_935_792_000), (2050, 1, 1, 2_524_608_000)]
        {
            let mut params =
                rcgen::CertificateParams::new(vec!["bridge.example".to_owned()]).expect("params");
            params.not_after = rcgen::date_time_ymd(year, month, day);
            let cert = params.self_signed(&key).expect("cert");
            assert_eq!(not_after(cert.der()), Some(expected), "{year}");
        }
        assert_eq!(der_time(0x17, b"491231235959Z"), Some(2_524_607_999));
        assert_eq!(not_after(b""), None);
        assert_eq!(
            not_after(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            None,
            "a length past the end"
        );
        assert_eq!(der_time(0x17, b"4912312359+9Z"), None);
    }

    #[test]
    fn the_plain_http_answer_has_the_length_it_says() {
        let text = std::str::from_utf8(PLAIN_HTTP_ON_TLS_PORT).unwrap_or_default();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or_default();
        assert!(head.contains(&format!("content-length: {}", body.len())));
    }

    #[test]
    fn missing_files_are_named() {
        let files = TlsFiles {
            certificate: "/nonexistent/cert.pem".into(),
            private_key: "/nonexistent/key.pem".into(),
        };
        let e = load(&files).err().unwrap_or_default();
        assert!(e.contains("/nonexistent/cert.pem"), "{e}");
    }
}
