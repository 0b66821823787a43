//! `fundingd` itself, built as part of the end-to-end package so that its crash tests can run it as a
//! real process (and SIGKILL it) without building another package from inside a test.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    fundingd::cli::main().await
}
