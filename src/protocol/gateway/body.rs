//! The client's request body on its way to the API, and whose fault it is
//! when it fails.
//!
//! The body streams (uploads of any size), so it cannot be read whole
//! within a deadline as the provider's listener does. Instead, while the
//! body waits on the client:
//!
//! - a pause longer than `idle_timeout_ms` ends it;
//! - it must keep up a minimum rate: it gets `body_read_timeout_ms` (the
//!   provider's whole-body deadline) plus one second for every
//!   `body_min_bytes_per_second` bytes received, as Apache's
//!   `mod_reqtimeout` does (`body=…,MinRate=…`). A client sending a byte
//!   every few seconds resets the idle timer each time, but cannot hold
//!   the legacy API connection longer than that.
//!
//! Only time spent waiting on the client counts: while the API does not
//! read (its socket full), the body is not polled and the clock stops;
//! that stall is the forwarder's to judge (504). A body the client breaks
//! — malformed chunked framing, a connection closed mid-body — or lets
//! lag is the client's fault ([`ClientFault`]): 400 or 408, logged as a
//! refusal, never a 502 that would page someone.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use http_body::Frame;

/// The limits a request body streams under.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// The longest pause.
    pub idle: Duration,
    /// The time a body gets before the minimum rate applies.
    pub grace: Duration,
    /// Bytes per second that buy one more second (0: no rate rule).
    pub min_rate: u64,
}

/// Why the client's body failed.
#[derive(Debug, Clone)]
pub enum ClientFault {
    /// Its framing was malformed or its connection broke mid-body: 400.
    Malformed(String),
    /// It paused too long or fell under the minimum rate: 408.
    TooSlow(String),
}

/// What the forwarder reads about the body while it streams.
#[derive(Debug, Default)]
pub struct Watch {
    /// Frames sent so far.
    pub progress: AtomicU64,
    /// Whether the body is waiting on the client right now.
    pub waiting: AtomicBool,
    fault: OnceLock<ClientFault>,
}

impl Watch {
    /// The client's fault, if its body failed.
    pub fn fault(&self) -> Option<ClientFault> {
        self.fault.get().cloned()
    }
}

/// The client's body, timed while it waits on the client, saying when it
/// has been sent in full (or dropped).
pub struct ClientBody {
    inner: Body,
    limits: BodyLimits,
    watch: Arc<Watch>,
    sent: Option<tokio::sync::oneshot::Sender<()>>,
    received: u64,
    /// Time spent waiting on the client, before the current wait.
    waited: Duration,
    waiting_since: Option<Instant>,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl ClientBody {
    /// `inner` under `limits`; `sent` fires once it ends, fails or is
    /// dropped.
    pub fn new(
        inner: Body,
        limits: BodyLimits,
        sent: tokio::sync::oneshot::Sender<()>,
    ) -> (Self, Arc<Watch>) {
        let watch = Arc::new(Watch::default());
        let mut body = Self {
            inner,
            limits,
            watch: watch.clone(),
            sent: Some(sent),
            received: 0,
            waited: Duration::ZERO,
            waiting_since: None,
            timer: None,
        };
        if http_body::Body::is_end_stream(&body.inner) {
            // Nothing to send (hyper may never poll it): the clock runs now.
            body.signal();
        }
        (body, watch)
    }

    fn signal(&mut self) {
        if let Some(sent) = self.sent.take() {
            let _ = sent.send(());
        }
    }

    fn stop_waiting(&mut self) {
        if let Some(since) = self.waiting_since.take() {
            self.waited += since.elapsed();
            self.watch.waiting.store(false, Ordering::Relaxed);
        }
    }

    /// How much longer the body may wait on the client now; `Err` says why
    /// it may not.
    fn time_left(&self, now: Instant) -> Result<Duration, String> {
        let this_wait = self.waiting_since.map_or(Duration::ZERO, |s| now - s);
        let idle_left = self.limits.idle.saturating_sub(this_wait);
        if idle_left.is_zero() {
            return Err(format!(
                "no byte of the request body for {} ms",
                self.limits.idle.as_millis()
            ));
        }
        if self.limits.min_rate == 0 {
            return Ok(idle_left);
        }
        let earned =
            Duration::from_millis(self.received.saturating_mul(1000) / self.limits.min_rate);
        let rate_left = (self.limits.grace + earned).saturating_sub(self.waited + this_wait);
        if rate_left.is_zero() {
            return Err(format!(
                "the request body came slower than {} bytes a second ({} bytes, {} ms waited)",
                self.limits.min_rate,
                self.received,
                (self.waited + this_wait).as_millis()
            ));
        }
        Ok(idle_left.min(rate_left))
    }

    fn fail(&mut self, fault: ClientFault) -> axum::Error {
        let text = match &fault {
            ClientFault::Malformed(why) | ClientFault::TooSlow(why) => why.clone(),
        };
        let _ = self.watch.fault.set(fault);
        self.stop_waiting();
        self.signal();
        axum::Error::new(std::io::Error::other(text))
    }
}

impl Drop for ClientBody {
    fn drop(&mut self) {
        self.signal();
    }
}

impl http_body::Body for ClientBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        loop {
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    self.stop_waiting();
                    if let Some(data) = frame.data_ref() {
                        self.received += data.len() as u64;
                    }
                    self.watch.progress.fetch_add(1, Ordering::Relaxed);
                    if http_body::Body::is_end_stream(&self.inner) {
                        self.signal();
                    }
                    return Poll::Ready(Some(Ok(frame)));
                }
                Poll::Ready(Some(Err(e))) => {
                    let why = format!("the request body could not be read: {e}");
                    return Poll::Ready(Some(Err(self.fail(ClientFault::Malformed(why)))));
                }
                Poll::Ready(None) => {
                    self.stop_waiting();
                    self.signal();
                    return Poll::Ready(None);
                }
                Poll::Pending => {}
            }
            let now = Instant::now();
            if self.waiting_since.is_none() {
                self.waiting_since = Some(now);
                self.watch.waiting.store(true, Ordering::Relaxed);
            }
            let left = match self.time_left(now) {
                Ok(left) => left,
                Err(why) => return Poll::Ready(Some(Err(self.fail(ClientFault::TooSlow(why))))),
            };
            let deadline = tokio::time::Instant::from_std(now + left);
            let timer = match &mut self.timer {
                Some(timer) => {
                    timer.as_mut().reset(deadline);
                    timer
                }
                None => self
                    .timer
                    .insert(Box::pin(tokio::time::sleep_until(deadline))),
            };
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            // The deadline passed: look at the body once more, then judge.
        }
    }

    fn is_end_stream(&self) -> bool {
        http_body::Body::is_end_stream(&self.inner)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::Body::size_hint(&self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(limits: BodyLimits) -> ClientBody {
        let (sent, _) = tokio::sync::oneshot::channel();
        ClientBody::new(Body::empty(), limits, sent).0
    }

    #[test]
    fn the_minimum_rate_buys_time_and_pauses_are_bounded() {
        let limits = BodyLimits {
            idle: Duration::from_secs(60),
            grace: Duration::from_secs(10),
            min_rate: 500,
        };
        let start = Instant::now();
        let mut b = body(limits);
        b.waiting_since = Some(start);
        assert_eq!(b.time_left(start), Ok(Duration::from_secs(10)));
        // 9 s waited for 9 bytes: one second left, not sixty.
        b.waited = Duration::from_secs(9);
        b.received = 9;
        assert_eq!(b.time_left(start), Ok(Duration::from_millis(1018)));
        b.waited = Duration::from_secs(11);
        assert!(b.time_left(start).is_err());
        // 5,000 bytes buy ten more seconds.
        b.received = 5000;
        assert_eq!(b.time_left(start), Ok(Duration::from_secs(9)));
        // Without a rate rule, only the pause counts.
        b.limits.min_rate = 0;
        assert_eq!(b.time_left(start), Ok(Duration::from_secs(60)));
        assert!(b.time_left(start + Duration::from_secs(60)).is_err());
    }
}
