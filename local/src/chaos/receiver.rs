//! A receiver that misbehaves on purpose: it answers about `failure_rate` of requests with a
//! 500, a 503 or 429 with `Retry-After`, a hang past the sender's timeout, or a connection
//! reset. It speaks just enough HTTP/1.1 over raw TCP to do the last two, and logs every
//! request's `webhook-id` and whether it answered 2xx.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub webhook_id: String,
    /// The receiver answered 2xx (and the answer was written).
    pub ok: bool,
}

#[derive(Clone)]
pub struct FlakyReceiver {
    pub url: String,
    log: Arc<Mutex<Vec<Seen>>>,
    /// 2xx answers so far, kept apart from the log so that pacing can read it cheaply.
    oks: Arc<AtomicUsize>,
}

/// How long a hanging answer stalls: past the chaos endpoints' 1 s timeout.
const HANG: Duration = Duration::from_millis(1500);

impl FlakyReceiver {
    pub async fn start(failure_rate: f64) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let log = Arc::new(Mutex::new(Vec::new()));
        let oks = Arc::new(AtomicUsize::new(0));
        let (shared, counter) = (log.clone(), oks.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, shared.clone(), counter.clone(), failure_rate));
            }
        });
        Ok(Self { url, log, oks })
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    pub fn request_count(&self) -> usize {
        self.log.lock().map(|l| l.len()).unwrap_or(0)
    }

    pub fn ok_count(&self) -> usize {
        self.oks.load(Ordering::Relaxed)
    }
}

enum Behaviour {
    Ok,
    Status(&'static str),
    Hang,
    Reset,
}

fn choose(failure_rate: f64) -> Behaviour {
    let mut rng = rand::rng();
    if !rng.random_bool(failure_rate) {
        return Behaviour::Ok;
    }
    match rng.random_range(0..5) {
        0 => Behaviour::Status("500 Internal Server Error\r\n"),
        1 => Behaviour::Status("503 Service Unavailable\r\nretry-after: 1\r\n"),
        2 => Behaviour::Status("429 Too Many Requests\r\nretry-after: 1\r\n"),
        3 => Behaviour::Hang,
        _ => Behaviour::Reset,
    }
}

async fn serve(mut stream: TcpStream, log: Arc<Mutex<Vec<Seen>>>, oks: Arc<AtomicUsize>, failure_rate: f64) {
    let Some(webhook_id) = read_request(&mut stream).await else { return };
    let behaviour = choose(failure_rate);
    let ok = match behaviour {
        Behaviour::Ok => {
            let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
            stream.write_all(answer).await.is_ok() && stream.flush().await.is_ok()
        }
        Behaviour::Status(status_and_headers) => {
            let answer = format!("HTTP/1.1 {status_and_headers}content-length: 0\r\nconnection: close\r\n\r\n");
            let _ = stream.write_all(answer.as_bytes()).await;
            false
        }
        Behaviour::Hang => {
            tokio::time::sleep(HANG).await;
            false
        }
        Behaviour::Reset => {
            // Linger 0 makes the close an RST.
            let _ = stream.set_zero_linger();
            false
        }
    };
    if let Ok(mut log) = log.lock() {
        log.push(Seen { webhook_id, ok });
    }
    if ok {
        oks.fetch_add(1, Ordering::Relaxed);
    }
}

/// Reads one request and returns its `webhook-id` (empty if none).
pub(crate) async fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let header = |name: &str| {
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_owned())
        })
    };
    let length: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(header("webhook-id").unwrap_or_default())
}
