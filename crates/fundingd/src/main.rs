//! `fundingd`: the funding service's server. See [`fundingd::cli`].

#[tokio::main]
async fn main() -> std::process::ExitCode {
    fundingd::cli::main().await
}
