//! A receiver for the fairness run: it answers 200 at once, or (on `hang_rate` of requests)
//! hangs past the sender's timeout and closes without answering. It logs when each
//! `webhook-id` first arrived, so delivery latency is measured where the request lands.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::chaos::receiver::read_request;

#[derive(Clone)]
pub struct TimedReceiver {
    pub url: String,
    first_arrivals: Arc<Mutex<HashMap<String, Instant>>>,
    requests: Arc<AtomicUsize>,
    oks: Arc<AtomicUsize>,
}

impl TimedReceiver {
    pub async fn start(hang_rate: f64, hang: Duration) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
        let receiver = Self {
            url: format!("http://{}/hook", listener.local_addr()?),
            first_arrivals: Arc::default(),
            requests: Arc::default(),
            oks: Arc::default(),
        };
        let serving = receiver.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serving.clone().serve(stream, hang_rate, hang));
            }
        });
        Ok(receiver)
    }

    pub fn first_arrival(&self, webhook_id: &str) -> Option<Instant> {
        self.first_arrivals.lock().ok()?.get(webhook_id).copied()
    }

    pub fn request_count(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn ok_count(&self) -> usize {
        self.oks.load(Ordering::Relaxed)
    }

    async fn serve(self, mut stream: TcpStream, hang_rate: f64, hang: Duration) {
        let Some(webhook_id) = read_request(&mut stream).await else { return };
        let arrived = Instant::now();
        if let Ok(mut first) = self.first_arrivals.lock() {
            first.entry(webhook_id).or_insert(arrived);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        if rand::rng().random_bool(hang_rate) {
            tokio::time::sleep(hang).await;
            return;
        }
        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
        if stream.write_all(answer).await.is_ok() && stream.flush().await.is_ok() {
            self.oks.fetch_add(1, Ordering::Relaxed);
        }
    }
}
