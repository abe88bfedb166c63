//! The api Lambda: API Gateway (HTTP API) requests, served by the router in the library.

use hookline_shared::config::Config;
use hookline_shared::web::{AppState, with_fallbacks};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hookline_shared::telemetry::init();
    // Endpoint secrets and credentials are sealed at rest with the deployment's key.
    hookline_shared::crypto::install_from_env()?;
    let config = Config::from_env()?;
    let clients = hookline_shared::aws::clients_from_env().await;
    let app = with_fallbacks(api::routes().with_state(AppState::new(config, &clients)));
    lambda_http::run(app).await
}
