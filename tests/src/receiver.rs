//! A webhook receiver: a real HTTP server on 127.0.0.1 that records every request and answers
//! with the statuses it was told to, in order, then 200.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};

#[derive(Clone, Debug)]
pub struct Received {
    pub at: std::time::Instant,
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }
}

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
}

impl From<u16> for Reply {
    fn from(status: u16) -> Self {
        Self { status, headers: Vec::new() }
    }
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    script: VecDeque<Reply>,
    /// Answer this once the script is spent.
    then: Option<u16>,
    /// Wait this long before answering each request.
    delay: std::time::Duration,
    /// Decides each answer from the request, as a real receiver's rules would.
    judge: Option<Judge>,
    /// When each request arrived, logged on arrival (`received` logs on answering).
    arrivals: Vec<std::time::Instant>,
    /// Requests being answered right now, and the most there ever were at once.
    in_flight: usize,
    max_in_flight: usize,
}

type Judge = Arc<dyn Fn(&Received) -> u16 + Send + Sync>;

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl Receiver {
    /// A receiver that answers 200 to everything.
    pub async fn start() -> Self {
        Self::answering(&[]).await
    }

    /// A receiver that answers `statuses` in order, then 200.
    pub async fn answering(statuses: &[u16]) -> Self {
        Self::scripted(statuses.iter().map(|s| Reply::from(*s)).collect(), 200).await
    }

    /// A receiver that answers `status` to everything.
    pub async fn always(status: u16) -> Self {
        Self::scripted(Vec::new(), status).await
    }

    /// A receiver that gives the scripted replies in order, then `then`.
    pub async fn scripted(script: Vec<Reply>, then: u16) -> Self {
        Self::serve(Inner { script: script.into(), then: Some(then), ..Inner::default() }).await
    }

    /// A receiver that takes `delay` to answer 200 to each request.
    pub async fn slow(delay: std::time::Duration) -> Self {
        Self::serve(Inner { delay, ..Inner::default() }).await
    }

    /// A receiver that answers each request with the status `judge` gives it (a stand-in for a
    /// real service's rules: which body it needs, which header it routes on).
    pub async fn judging(judge: impl Fn(&Received) -> u16 + Send + Sync + 'static) -> Self {
        Self::serve(Inner { judge: Some(Arc::new(judge)), ..Inner::default() }).await
    }

    async fn serve(inner: Inner) -> Self {
        let inner = Arc::new(Mutex::new(inner));
        let app = axum::Router::new().fallback(record).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, inner }
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    pub fn count(&self) -> usize {
        self.inner.lock().unwrap().received.len()
    }

    /// When each request arrived, including those not answered yet.
    pub fn arrivals(&self) -> Vec<std::time::Instant> {
        self.inner.lock().unwrap().arrivals.clone()
    }

    /// The most requests this receiver was answering at once.
    pub fn max_in_flight(&self) -> usize {
        self.inner.lock().unwrap().max_in_flight
    }
}

async fn record(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let arrived = std::time::Instant::now();
    let delay = {
        let mut inner = inner.lock().unwrap();
        inner.arrivals.push(arrived);
        inner.in_flight += 1;
        inner.max_in_flight = inner.max_in_flight.max(inner.in_flight);
        inner.delay
    };
    // Counted out even when the sender gives up and this future is dropped mid-sleep.
    let _answered = InFlightGuard(inner.clone());
    tokio::time::sleep(delay).await;
    let mut inner = inner.lock().unwrap();
    let received = Received { at: arrived, method, uri, headers, body };
    let judged = inner.judge.as_ref().map(|judge| Reply::from(judge(&received)));
    inner.received.push(received);
    let reply =
        judged.unwrap_or_else(|| inner.script.pop_front().unwrap_or_else(|| Reply::from(inner.then.unwrap_or(200))));
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), "receiver says hi").into_response();
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

struct InFlightGuard(Arc<Mutex<Inner>>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if let Ok(mut inner) = self.0.lock() {
            inner.in_flight -= 1;
        }
    }
}
