//! `make dev`: Hookline on 127.0.0.1 against the local AWS server that `scripts/with-moto`
//! started. One HTTP server serves the ingest and management routes through the same handlers
//! the Lambdas run; a poller feeds the deliver handler as Lambda's SQS event source would.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use hookline_local::clients::{endpoint_from_env, local_clients};
use hookline_local::poller::Poller;
use hookline_local::provision::provision;
use hookline_local::template::Resources;
use hookline_shared::config::Config;
use hookline_shared::guard::Egress;
use hookline_shared::web::{AppState, with_fallbacks};
use tokio::sync::watch;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let port: u16 = std::env::var("PORT").ok().map(|p| p.parse()).transpose()?.unwrap_or(3000);
    let admin_token = std::env::var("HOOKLINE_ADMIN_TOKEN").unwrap_or_else(|_| "dev-admin-token".to_owned());
    let egress = hookline_shared::config::read_egress(&|name| std::env::var(name).ok())?;

    // A fresh key per run: the local AWS server's data lives no longer than this process.
    if hookline_shared::crypto::install_from_env().is_err() {
        hookline_shared::crypto::install_random_if_missing();
    }
    let clients = local_clients(&endpoint_from_env()?).await;
    let resources = provision(&clients, &Resources::from_template()?, "hookline-dev").await?;
    let config = Config { retention: Duration::from_secs(30 * 24 * 60 * 60), egress, ..resources.config(&admin_token) };
    let handler = deliver::Handler::from_config(&config, &clients)?;
    let state = AppState::new(config, &clients);
    let app = with_fallbacks(ingest::routes().merge(api::routes()).with_state(state));

    let (stop, stopped) = watch::channel(false);
    let poller =
        Poller::new(clients.sqs.clone(), resources.queue_url.clone(), resources.queue_arn.clone(), handler.clone());
    let slow_poller =
        Poller::new(clients.sqs.clone(), resources.slow_queue_url.clone(), resources.slow_queue_arn.clone(), handler);
    let slow_poller = tokio::spawn(slow_poller.run(stopped.clone()));
    let poller = tokio::spawn(poller.run(stopped));

    let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    let url = format!("http://{}", listener.local_addr()?);
    print_banner(&url, &admin_token, egress);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    let _ = stop.send(true);
    let _ = poller.await;
    let _ = slow_poller.await;
    Ok(())
}

fn print_banner(url: &str, admin_token: &str, egress: Egress) {
    println!(
        r#"
Hookline is running at {url}
  dashboard:   {url}/dashboard   (sign in with a tenant's api_key)
  admin token: {admin_token}   (local development only; set HOOKLINE_ADMIN_TOKEN to change it)
  deliveries go to: {egress}

Try it:
  curl -s -X POST {url}/v1/tenants -H 'authorization: Bearer {admin_token}' -d '{{"name":"demo"}}'
  export KEY=hk_...    # the api_key from the answer
  curl -s -X POST {url}/v1/endpoints -H "authorization: Bearer $KEY" \
       -d '{{"url":"http://127.0.0.1:9000/hook","event_types":["order.*"]}}'
  curl -s -X POST {url}/v1/events -H "authorization: Bearer $KEY" \
       -d '{{"event_type":"order.created","payload":{{"id":1}}}}'
  curl -s {url}/v1/events/evt_... -H "authorization: Bearer $KEY"

Ctrl-C stops the server and the local AWS server.
"#,
        egress = match egress {
            Egress::LoopbackOnly => "127.0.0.0/8, ::1 and localhost only (HOOKLINE_EGRESS=loopback-only)",
            Egress::PublicAndLoopback => "public addresses and loopback (HOOKLINE_EGRESS=public-and-loopback)",
            Egress::PublicOnly => "public addresses only",
        },
    );
}
