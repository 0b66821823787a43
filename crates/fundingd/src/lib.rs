//! The funding service's server: settings, telemetry, wiring ([`Application`]), health, background
//! workers and shutdown. `main` is a thin shell over this library, and the end-to-end tests start the
//! service through the same [`Application`].

pub mod cli;
pub mod health;
pub mod metrics;
mod safety;
mod sandbox_provider;
pub mod settings;
mod startup;
pub mod telemetry;
pub mod webhooks;

pub use settings::Settings;
pub use startup::Application;

/// Runs the migrations alone (`fundingd migrate`).
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    use anyhow::Context;
    let cipher = funding_store::Cipher::generate();
    let store = funding_store::Store::connect(&settings.database_url, cipher)
        .await
        .context("cannot open the database")?;
    store
        .migrate()
        .await
        .context("cannot migrate the database")?;
    let _ = store.close().await;
    Ok(())
}
