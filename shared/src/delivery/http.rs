//! Sending one request: through the address guard, without following redirects, with a
//! timeout, keeping at most the first [`BODY_EXCERPT_BYTES`] (4 KB) of the answer.

use std::error::Error as _;
use std::time::{Duration, Instant};

use super::request::OutgoingRequest;
use crate::domain::{AttemptError, ErrorKind};
use crate::guard::{BlockedAddress, BlockedName, Egress, GuardedResolver, Refused};

/// How much of a response body an attempt keeps.
pub const BODY_EXCERPT_BYTES: usize = 4096;
/// The response headers an attempt keeps.
const CAPTURED_HEADERS: [&str; 2] = ["content-type", "retry-after"];
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What happened on the wire.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpResult {
    pub status: Option<u16>,
    pub error: Option<AttemptError>,
    pub latency_ms: u64,
    pub body_excerpt: String,
    /// The response's `Retry-After`, in seconds or as an HTTP date, as a wait from now.
    pub retry_after: Option<Duration>,
    /// `body_excerpt` is base64: the body was not UTF-8.
    pub body_base64: bool,
    /// The captured response headers ([`CAPTURED_HEADERS`]).
    pub headers: std::collections::BTreeMap<String, String>,
}

impl HttpResult {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// The result of an attempt that sent nothing, such as one whose request could not be built.
    pub fn not_sent(error: AttemptError) -> Self {
        Self { error: Some(error), ..Self::default() }
    }

    fn failed(kind: ErrorKind, message: impl Into<String>, started: Instant) -> Self {
        Self {
            status: None,
            error: Some(AttemptError { kind, message: message.into() }),
            latency_ms: elapsed_ms(started),
            ..Self::default()
        }
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[derive(Debug, thiserror::Error)]
#[error("could not build the HTTP client: {0}")]
pub struct ClientError(#[from] reqwest::Error);

/// The HTTP client deliveries and test sends go through. Build one per process and share it:
/// it pools connections.
#[derive(Clone, Debug)]
pub struct Sender {
    client: reqwest::Client,
    egress: Egress,
}

impl Sender {
    pub fn new(egress: Egress) -> Result<Self, ClientError> {
        Self::with_resolver(GuardedResolver::new(egress))
    }

    /// A sender whose names go through `resolver` (tests record what is looked up).
    pub fn with_resolver(resolver: GuardedResolver) -> Result<Self, ClientError> {
        let egress = resolver.egress;
        let client = reqwest::Client::builder()
            // A proxy from the environment (`HTTPS_PROXY`, `ALL_PROXY`, …) would connect in our
            // place, and the address guard would never see the target's address.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(resolver)
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self { client, egress })
    }

    pub async fn send(&self, request: OutgoingRequest) -> HttpResult {
        let started = Instant::now();
        // IP-literal hosts never reach the resolver, and in loopback-only mode a name must be
        // refused before anyone is asked about it, so the host is judged here first.
        if let Err(refused) = self.egress.check_host(request.url.host()) {
            return HttpResult::failed(ErrorKind::Blocked, refused.to_string(), started);
        }
        let sent = self
            .client
            .request(request.method, request.url)
            .headers(request.headers)
            .body(request.body)
            .timeout(request.timeout)
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(err) => {
                let (kind, message) = classify(&err);
                return HttpResult::failed(kind, message, started);
            }
        };
        let status = response.status().as_u16();
        let headers = CAPTURED_HEADERS
            .iter()
            .filter_map(|name| {
                let value = response.headers().get(*name)?.to_str().ok()?;
                Some(((*name).to_owned(), value.chars().take(256).collect()))
            })
            .collect();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
        let mut body = Vec::new();
        // Reading the excerpt stays within the request's timeout; a receiver that stalls its body
        // keeps the status it already sent.
        while body.len() < BODY_EXCERPT_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        let error = match status {
            200..=299 => None,
            300..=399 => Some(format!("{status} (redirects are not followed)")),
            _ => Some(status.to_string()),
        };
        let (body_excerpt, body_base64) = excerpt(&body);
        HttpResult {
            status: Some(status),
            error: error.map(|message| AttemptError { kind: ErrorKind::HttpStatus, message }),
            latency_ms: elapsed_ms(started),
            body_excerpt,
            retry_after,
            body_base64,
            headers,
        }
    }
}

/// Reads `Retry-After`: delay-seconds or an HTTP date (RFC 9110 §10.2.3). A date in the
/// past means now.
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

/// At most [`BODY_EXCERPT_BYTES`] of `body`: as text when it is UTF-8 (cut on a character
/// boundary), else as base64 (the `bool` says which).
pub fn excerpt(body: &[u8]) -> (String, bool) {
    let prefix = &body[..body.len().min(BODY_EXCERPT_BYTES)];
    match std::str::from_utf8(prefix) {
        Ok(text) => (text.to_owned(), false),
        // Only the cut at the end split a character: keep the text before it.
        Err(err) if err.error_len().is_none() => {
            (String::from_utf8_lossy(&prefix[..err.valid_up_to()]).into_owned(), false)
        }
        Err(_) => {
            use base64::Engine;
            (base64::engine::general_purpose::STANDARD.encode(prefix), true)
        }
    }
}

fn classify(err: &reqwest::Error) -> (ErrorKind, String) {
    let mut source = err.source();
    while let Some(inner) = source {
        if let Some(blocked) = inner.downcast_ref::<BlockedAddress>() {
            return (ErrorKind::Blocked, blocked.to_string());
        }
        if let Some(blocked) = inner.downcast_ref::<BlockedName>() {
            return (ErrorKind::Blocked, blocked.to_string());
        }
        if let Some(refused) = inner.downcast_ref::<Refused>() {
            return (ErrorKind::Blocked, refused.to_string());
        }
        source = inner.source();
    }
    let detail = chain(err);
    let kind = if err.is_timeout() {
        ErrorKind::Timeout
    } else if err.is_dns() {
        ErrorKind::Dns
    } else if detail.contains("certificate") || detail.contains("tls") || detail.contains("TLS") {
        ErrorKind::Tls
    } else {
        ErrorKind::Connect
    };
    (kind, detail)
}

/// The error and its causes on one line, without the URL (which may carry a token in its query).
fn chain(err: &reqwest::Error) -> String {
    let mut first = err.to_string();
    if let Some(url) = err.url() {
        first = first.replace(url.as_str(), &format!("{}{}", url.origin().ascii_serialization(), url.path()));
    }
    let mut parts = vec![first];
    let mut source = err.source();
    while let Some(inner) = source {
        parts.push(inner.to_string());
        source = inner.source();
    }
    parts.dedup();
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Set only in the child process [`proxy_variables_are_ignored`] starts.
    const PROXY_CHILD: &str = "HOOKLINE_TEST_PROXY_CHILD";

    /// Proxy variables are read when the client is built, and changing the environment of this
    /// multi-threaded test process is unsound, so the sender is built and used in a child
    /// process (this test binary, running [`proxy_child_sends_directly`]) whose environment
    /// points every proxy variable at a listener here. Nothing may reach that listener.
    #[test]
    fn proxy_variables_are_ignored() {
        let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        proxy.set_nonblocking(true).unwrap();
        let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child.args(["--exact", "delivery::http::tests::proxy_child_sends_directly", "--ignored", "--nocapture"]);
        child.env(PROXY_CHILD, "1").env_remove("NO_PROXY").env_remove("no_proxy");
        for name in ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy"] {
            child.env(name, &proxy_url);
        }
        let output = child.output().unwrap();
        let reached_proxy = proxy.accept().is_ok();
        assert!(!reached_proxy, "a request went to the proxy from the environment");
        assert!(
            output.status.success(),
            "the child's sends failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Runs only inside [`proxy_variables_are_ignored`]'s child process.
    #[test]
    #[ignore = "run by proxy_variables_are_ignored in a child process"]
    fn proxy_child_sends_directly() {
        if std::env::var_os(PROXY_CHILD).is_none() {
            return;
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = receiver.local_addr().unwrap().port();
            tokio::spawn(async move {
                while let Ok((mut conn, _)) = receiver.accept().await {
                    let mut buf = [0u8; 4096];
                    let _ = conn.read(&mut buf).await;
                    let _ = conn.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n").await;
                }
            });
            let sender = Sender::new(Egress::PublicAndLoopback).unwrap();
            let request = |url: &str| OutgoingRequest {
                method: reqwest::Method::POST,
                url: url.parse().unwrap(),
                headers: http::HeaderMap::new(),
                body: bytes::Bytes::from_static(b"{}"),
                timeout: Duration::from_secs(5),
                truncated: false,
            };
            for url in [format!("http://127.0.0.1:{port}/hook"), format!("http://localhost:{port}/hook")] {
                let result = sender.send(request(&url)).await;
                assert_eq!(result.status, Some(204), "{url}: {result:?}");
            }
            // The receiver speaks plain HTTP, so this fails in the TLS handshake; through a proxy
            // it would have been a `CONNECT` to the listener instead.
            let result = sender.send(request(&format!("https://localhost:{port}/hook"))).await;
            assert_ne!(result.status, Some(204), "{result:?}");
        });
    }

    fn post(url: &str) -> OutgoingRequest {
        OutgoingRequest {
            method: reqwest::Method::POST,
            url: url.parse().unwrap(),
            headers: http::HeaderMap::new(),
            body: bytes::Bytes::from_static(b"{}"),
            timeout: Duration::from_secs(5),
            truncated: false,
        }
    }

    /// In loopback-only mode a name other than `localhost` is refused before the resolver is
    /// asked: the recording lookup (which would answer with a closed loopback port) hears
    /// nothing. Test sends build the same [`Sender`]. Only forms that would reach loopback if
    /// the check failed are sent; the rest are judged in `guard.rs` without a sender.
    #[test]
    fn loopback_only_sends_refuse_names_and_special_forms_without_a_lookup() {
        let lookup = std::sync::Arc::new(crate::guard::tests::RecordingLookup::default());
        let resolver = GuardedResolver { egress: Egress::LoopbackOnly, lookup: lookup.clone() };
        let sender = Sender::with_resolver(resolver).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for url in [
            "http://hookline-fuzz.example:9/hook",
            "https://example.com:9/",
            "http://localhost.:9/",
            "http://api.localhost:9/",
            "http://[::ffff:127.0.0.1]:9/",
        ] {
            let result = runtime.block_on(sender.send(post(url)));
            assert_eq!(result.status, None, "{url}");
            assert_eq!(result.error.map(|e| e.kind), Some(ErrorKind::Blocked), "{url}");
        }
        assert!(lookup.0.lock().unwrap().is_empty(), "looked up: {:?}", lookup.0.lock().unwrap());
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2026 07:28:00 GMT").unwrap();
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2026 07:29:30 GMT", now), Some(Duration::from_secs(90)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2026 07:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn excerpts_stop_at_4_kb_on_a_character_boundary() {
        let body = "é€".repeat(1000); // 5000 bytes; 4096 falls inside a '€'
        let (cut, base64) = excerpt(body.as_bytes());
        assert!(!base64);
        assert!(cut.len() <= BODY_EXCERPT_BYTES && cut.len() > BODY_EXCERPT_BYTES - 4);
        assert!(body.starts_with(&cut));
        assert_eq!(excerpt(b"ok"), ("ok".to_owned(), false));
    }

    #[test]
    fn bodies_that_are_not_utf8_are_kept_as_marked_base64() {
        let (text, base64) = excerpt(&[0xff, 0xfe, b'a', 0x00, 0xc3]);
        assert!(base64);
        assert_eq!(text, "//5hAMM=");
    }
}
