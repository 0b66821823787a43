//! The `funding-sandbox` binary: runs the Plaid and Alpaca emulators alone (for other teams'
//! local development), prints where they listen, and stops cleanly on Ctrl-C or SIGTERM.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    funding_sandbox::cli::main().await
}
