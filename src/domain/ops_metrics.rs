//! The metrics an on-call team reads beside the request ones, added to the
//! same `/metrics` text: the process (CPU seconds, resident memory, open and
//! maximum file descriptors, start time — read from `/proc/self` on Linux at
//! each scrape, under the names every Prometheus client uses), the build
//! (`idp_bridge_build_info`), open connections per listener, store errors,
//! the served TLS certificate's expiry, and refusals by error code.
//!
//! Every label comes from a fixed set (listener names, the `&'static str`
//! codes of `refusal::Refusal`), never from a request.

use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::{Registry, Unit};

use crate::util::tls::ReloadingCert;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabels {
    listener: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    commit: &'static str,
}

/// The version and, when the build set `IDP_BRIDGE_GIT_COMMIT`, the commit.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The commit the binary was built from, or `unknown`.
pub const COMMIT: &str = match option_env!("IDP_BRIDGE_GIT_COMMIT") {
    Some(c) => c,
    None => "unknown",
};

/// The operational metrics.
#[derive(Debug)]
pub struct OpsMetrics {
    process: Registry,
    connections: Family<ListenerLabels, Gauge>,
    refusals: Family<RefusalLabels, Counter>,
    certificate: Arc<Mutex<Option<Arc<ReloadingCert>>>>,
}

impl OpsMetrics {
    /// Registers the bridge's own families in `registry` (the `idp_bridge`
    /// one); the process families live in a registry of their own, without
    /// the prefix.
    pub fn register(registry: &mut Registry) -> Self {
        let connections = Family::<ListenerLabels, Gauge>::default();
        registry.register(
            "open_connections",
            "Connections open now, by listener (public, gateway)",
            connections.clone(),
        );
        let refusals = Family::<RefusalLabels, Counter>::default();
        registry.register(
            "refusals",
            "Requests refused, by the error code or page kind answered",
            refusals.clone(),
        );
        let certificate = Arc::new(Mutex::new(None));
        registry.register_collector(Box::new(BridgeCollector {
            certificate: certificate.clone(),
        }));
        let mut process = Registry::default();
        process.register_collector(Box::new(ProcessCollector {
            started: crate::util::clock::now_unix(),
        }));
        Self {
            process,
            connections,
            refusals,
            certificate,
        }
    }

    /// The registry of the `process_*` families.
    pub fn process_registry(&self) -> &Registry {
        &self.process
    }

    /// The gauge of `listener`'s open connections (`public`, `gateway`).
    pub fn connections(&self, listener: &'static str) -> Gauge {
        self.connections
            .get_or_create(&ListenerLabels { listener })
            .clone()
    }

    /// The certificate whose expiry is exported (when `[tls]` is set).
    pub fn watch_certificate(&self, cert: Arc<ReloadingCert>) {
        *self
            .certificate
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(cert);
    }

    /// The refusal counters, for [`count_refusals`].
    pub fn refusals(&self) -> Refusals {
        Refusals(self.refusals.clone())
    }
}

/// The refusal counters by code.
#[derive(Debug, Clone)]
pub struct Refusals(Family<RefusalLabels, Counter>);

/// Middleware: counts each refusal a handler attached, by its code.
pub async fn count_refusals(
    State(refusals): State<Refusals>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    // As `refusal::log_refusal`: a page shown with 200 is not a refusal.
    let refused = response.extensions().get::<crate::util::refusal::Refusal>();
    if let Some(refusal) = refused.filter(|_| !response.status().is_success()) {
        refusals
            .0
            .get_or_create(&RefusalLabels { code: refusal.code })
            .inc();
    }
    response
}

/// Build info, store errors and the certificate's expiry, read at scrape.
#[derive(Debug)]
struct BridgeCollector {
    certificate: Arc<Mutex<Option<Arc<ReloadingCert>>>>,
}

impl Collector for BridgeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let info = ConstGauge::new(1_i64);
        let mut family = encoder.encode_descriptor(
            "build_info",
            "The running build: version and commit (always 1)",
            None,
            info.metric_type(),
        )?;
        info.encode(family.encode_family(&BuildLabels {
            version: VERSION,
            commit: COMMIT,
        })?)?;
        let errors = ConstCounter::new(crate::domain::store::errors_total());
        errors.encode(encoder.encode_descriptor(
            "store_errors",
            "Store operations that failed (database unreachable, constraint, I/O)",
            None,
            errors.metric_type(),
        )?)?;
        let cert = self
            .certificate
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(not_after) = cert.and_then(|c| c.not_after()) {
            let gauge = ConstGauge::new(not_after);
            gauge.encode(encoder.encode_descriptor(
                "tls_certificate_not_after",
                "When the certificate served on the public listener expires, unix time",
                Some(&Unit::Seconds),
                gauge.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

/// The process's own figures, from `/proc/self` (Linux; elsewhere only
/// the start time).
#[derive(Debug)]
struct ProcessCollector {
    started: i64,
}

/// Clock ticks per second in `/proc/self/stat` (`USER_HZ`: 100 on every
/// Linux architecture the bridge is built for).
const TICKS_PER_SECOND: f64 = 100.0;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let start = ConstGauge::new(self.started);
        start.encode(encoder.encode_descriptor(
            "process_start_time",
            "When the process started, unix time",
            Some(&Unit::Seconds),
            start.metric_type(),
        )?)?;
        let Some(figures) = read_proc() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(figures.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu",
            "User and system CPU time spent",
            Some(&Unit::Seconds),
            cpu.metric_type(),
        )?)?;
        let rss = ConstGauge::new(figures.resident_bytes);
        rss.encode(encoder.encode_descriptor(
            "process_resident_memory",
            "Resident memory size",
            Some(&Unit::Bytes),
            rss.metric_type(),
        )?)?;
        let fds = ConstGauge::new(figures.open_fds);
        fds.encode(encoder.encode_descriptor(
            "process_open_fds",
            "Open file descriptors",
            None,
            fds.metric_type(),
        )?)?;
        if let Some(max) = figures.max_fds {
            let max = ConstGauge::new(max);
            max.encode(encoder.encode_descriptor(
                "process_max_fds",
                "The file descriptor limit",
                None,
                max.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

struct ProcFigures {
    cpu_seconds: f64,
    resident_bytes: i64,
    open_fds: i64,
    max_fds: Option<i64>,
}

fn read_proc() -> Option<ProcFigures> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count();
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    Some(ProcFigures {
        cpu_seconds: cpu_ticks(&stat)? / TICKS_PER_SECOND,
        resident_bytes: resident_kib(&status)? * 1024,
        open_fds: i64::try_from(open_fds).unwrap_or(i64::MAX),
        max_fds: max_open_files(&limits),
    })
}

/// `utime + stime` from `/proc/self/stat` (fields 14 and 15; the command
/// name in field 2 may hold spaces and parentheses, so fields are counted
/// from the last `)`).
fn cpu_ticks(stat: &str) -> Option<f64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace().skip(11);
    let user: f64 = fields.next()?.parse().ok()?;
    let system: f64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// `VmRSS` from `/proc/self/status`, KiB.
fn resident_kib(status: &str) -> Option<i64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The soft `Max open files` limit from `/proc/self/limits`.
fn max_open_files(limits: &str) -> Option<i64> {
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_read_past_a_hostile_command_name() {
        let stat = "4242 (a) b (c) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0 20 0 1 0";
        assert_eq!(cpu_ticks(stat), Some(400.0));
        assert_eq!(cpu_ticks("no parenthesis"), None);
        assert_eq!(
            resident_kib("Name:\tx\nVmRSS:\t  1234 kB\nVmSwap: 0 kB\n"),
            Some(1234)
        );
        assert_eq!(
            max_open_files("Limit Soft Hard Units\nMax open files 1024 4096 files\n"),
            Some(1024)
        );
        assert_eq!(
            max_open_files("Max open files unlimited unlimited files"),
            None
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_figures() {
        let figures = read_proc().expect("/proc/self");
        assert!(figures.resident_bytes > 0 && figures.open_fds > 0);
    }
}
