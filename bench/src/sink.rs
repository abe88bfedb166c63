//! The webhook receiver: an axum server on 127.0.0.1 answering 200 to every POST on `/hook/…`,
//! and on `/flaky/…` 500 to the first POST of 30 % of deliveries (chosen by a hash of the
//! `webhook-id`, so a retry of the same delivery succeeds), run as a child process
//! (`hookline-bench sink`) so its CPU time is not counted as the sender's.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::{Value, json};

#[derive(Default)]
struct Received {
    total: AtomicU64,
    /// POSTs answered 500 (the flaky route's first attempts).
    failed: AtomicU64,
    /// `(path, webhook-id)` answered 2xx: one per delivery however often it is sent.
    unique: Mutex<HashSet<(String, String)>>,
    /// `(path, webhook-id)` seen at all, for the flaky route's "first attempt".
    seen: Mutex<HashSet<(String, String)>>,
    sample: Mutex<Option<Bytes>>,
}

/// `hookline-bench sink`: prints its port on stdout, serves until stdin closes.
pub async fn serve() -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
    println!("{}", listener.local_addr()?.port());
    // The parent holds our stdin; when it goes away (or closes it), so do we.
    std::thread::spawn(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        std::process::exit(0);
    });
    let app = Router::new()
        .route("/hook/{n}", post(hook))
        .route("/flaky/{n}", post(flaky))
        .route("/stats", get(stats))
        .with_state(Arc::new(Received::default()));
    axum::serve(listener, app).await?;
    Ok(())
}

/// Share of deliveries whose first POST the flaky route fails, in tenths.
pub const FLAKY_TENTHS: u64 = 3;

/// FNV-1a: a stable, even spread of delivery ids over the tenths.
fn fails_first(id: &str) -> bool {
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    hash % 10 < FLAKY_TENTHS
}

async fn flaky(
    State(received): State<Arc<Received>>,
    Path(n): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let first = received.seen.lock().map(|mut seen| seen.insert((n.clone(), id.clone()))).unwrap_or(false);
    if first && fails_first(&id) {
        received.total.fetch_add(1, Ordering::Relaxed);
        received.failed.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::INTERNAL_SERVER_ERROR, "try again");
    }
    (StatusCode::OK, hook(State(received), Path(format!("flaky/{n}")), headers, body).await)
}

async fn hook(
    State(received): State<Arc<Received>>,
    Path(n): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> &'static str {
    received.total.fetch_add(1, Ordering::Relaxed);
    if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok())
        && let Ok(mut unique) = received.unique.lock()
    {
        unique.insert((n, id.to_owned()));
    }
    if let Ok(mut sample) = received.sample.lock()
        && sample.is_none()
    {
        *sample = Some(body);
    }
    "ok"
}

async fn stats(State(received): State<Arc<Received>>) -> axum::Json<Value> {
    let unique = received.unique.lock().map(|u| u.len()).unwrap_or(0);
    let sample = received.sample.lock().ok().and_then(|s| s.clone()).unwrap_or_default();
    axum::Json(json!({
        "total": received.total.load(Ordering::Relaxed),
        "failed": received.failed.load(Ordering::Relaxed),
        "unique": unique,
        "sample": String::from_utf8_lossy(&sample),
    }))
}

/// The sink child process, stopped when dropped.
pub struct Sink {
    child: Child,
    pub url: String,
    http: reqwest::Client,
}

#[derive(Debug, Clone)]
pub struct SinkStats {
    pub total: u64,
    pub failed: u64,
    pub unique: u64,
    pub sample: String,
}

impl Sink {
    pub fn start() -> anyhow::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("sink")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("sink has no stdout"))?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let port: u16 =
            line.trim().parse().map_err(|e| anyhow::anyhow!("sink did not report a port ({e}): {line:?}"))?;
        Ok(Self { child, url: format!("http://127.0.0.1:{port}"), http: reqwest::Client::new() })
    }

    pub async fn stats(&self) -> anyhow::Result<SinkStats> {
        let v: Value =
            serde_json::from_slice(&self.http.get(format!("{}/stats", self.url)).send().await?.bytes().await?)?;
        Ok(SinkStats {
            total: v["total"].as_u64().unwrap_or(0),
            failed: v["failed"].as_u64().unwrap_or(0),
            unique: v["unique"].as_u64().unwrap_or(0),
            sample: v["sample"].as_str().unwrap_or_default().to_owned(),
        })
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
