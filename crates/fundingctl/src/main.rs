//! `fundingctl`: the operator/developer CLI of the funding service (`funding.v1` over gRPC).
//!
//! Human tables by default, `--json` for scripts (one JSON document per answer; NDJSON for `watch`).
//! Errors are one line `error: <CODE>: <message>` on stderr, then the `google.rpc` details.
//!
//! Exit codes: 0 on success; 2 when the service answered INVALID_ARGUMENT (and for command-line
//! usage errors, as clap does); 1 for every other error.
//!
//! This module holds the command line and sends each command to its service's module (`links`,
//! `transfers`, `watch`, `bank_transfers`, `risk`, `sandbox`); `show` prints what they answer.

mod bank_transfers;
mod error;
mod json;
mod links;
mod output;
mod risk;
mod sandbox;
mod show;
mod transfers;
mod watch;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use funding_client::FundingClient;
use funding_client::v1;

use crate::bank_transfers::BankTransferCommand;
use crate::error::CliError;
use crate::links::{LinkArgs, LinkTokenArgs};
use crate::risk::RiskCommand;
use crate::sandbox::SandboxCommand;
use crate::transfers::{DirectionArg, MoveArgs, parse_transfer_status};

const ABOUT: &str = "The funding service's CLI: bank links, transfers, the Plaid rail, risk controls, \
     sandbox helpers.";
const AFTER_HELP: &str =
    "Exit codes: 0 success, 2 INVALID_ARGUMENT (or a usage error), 1 any other error.";

#[derive(Debug, Parser)]
#[command(name = "fundingctl", version, about = ABOUT, after_help = AFTER_HELP)]
struct Cli {
    /// The service's address.
    #[arg(
        long,
        global = true,
        env = "FUNDING_ADDR",
        default_value = "http://127.0.0.1:50051"
    )]
    addr: String,
    /// A bearer token (never printed).
    #[arg(long, global = true, env = "FUNDING_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// JSON output for scripts (NDJSON for `watch`).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A link token to open Plaid Link with (CreateLinkToken); with --bank-link-id, update mode
    /// for that link's Item.
    LinkToken(LinkTokenArgs),
    /// Link a bank account (CreateBankLink).
    Link(LinkArgs),
    /// An account's bank links, every page (ListBankLinks).
    Links {
        #[arg(long)]
        account_id: String,
    },
    /// Remove a bank link (DeleteBankLink).
    Unlink { id: String },
    /// Deposit from a linked bank (CreateTransfer, DEPOSIT).
    Deposit(MoveArgs),
    /// Withdraw to a linked bank (CreateTransfer, WITHDRAWAL).
    Withdraw(MoveArgs),
    /// An account's transfers, every page (ListTransfers).
    Transfers {
        #[arg(long)]
        account_id: String,
        #[arg(long, value_parser = parse_transfer_status)]
        status: Option<v1::TransferStatus>,
        #[arg(long)]
        direction: Option<DirectionArg>,
    },
    /// One transfer (GetTransfer).
    Transfer { id: String },
    /// Cancel a transfer (CancelTransfer).
    Cancel { id: String },
    /// Follow an account's transfers live (WatchTransfers).
    Watch(watch::WatchArgs),
    /// Alpaca transfers and relationships nothing of ours holds, every page (ListProviderOrphans).
    Orphans {
        /// Only this account's; every account's when absent.
        #[arg(long, default_value = "")]
        account_id: String,
    },
    /// The Plaid processor rail (BankTransferService).
    #[command(subcommand)]
    BankTransfer(BankTransferCommand),
    /// Risk controls: accounts' funding and limits, freezing, the review queue, the audit trail
    /// (RiskService).
    #[command(subcommand)]
    Risk(RiskCommand),
    /// The whole service's 60-day ACH return rates by category against NACHA's ceilings
    /// (unauthorized 0.5 %, administrative 3 %, overall 15 %; RiskService.GetReturnRates).
    Returns,
    /// The audit trail, in the order it was written, one page (RiskService.ListAuditEvents; the
    /// same as `risk audit`).
    Audit {
        /// Only this account's; every account's when absent.
        #[arg(long, default_value = "")]
        account_id: String,
        /// Only this resource (`accounts/<id>`, `transfers/<id>`, `bank_links/<id>`).
        #[arg(long, default_value = "")]
        resource: String,
        /// 0 means the service's default (100); at most 1000.
        #[arg(long, default_value_t = 0)]
        page_size: i32,
        /// The `next page` token of the page before.
        #[arg(long, default_value = "")]
        page_token: String,
    },
    /// Sandbox helpers (SandboxService; sandbox mode only).
    #[command(subcommand)]
    Sandbox(SandboxCommand),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            for line in error.render() {
                eprintln!("{line}");
            }
            ExitCode::from(error.exit_code())
        }
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let client = FundingClient::connect(cli.addr.clone(), cli.token.as_deref())
        .await
        .map_err(|e| CliError::Other(format!("UNAVAILABLE: {}: {e}", cli.addr)))?;
    let json = cli.json;
    match cli.command {
        Command::LinkToken(args) => links::link_token(&client, json, args).await,
        Command::Link(args) => links::create(&client, json, args).await,
        Command::Links { account_id } => links::list(&client, json, account_id).await,
        Command::Unlink { id } => links::delete(&client, json, id).await,
        Command::Deposit(args) => {
            transfers::create(&client, json, args, v1::TransferDirection::Deposit).await
        }
        Command::Withdraw(args) => {
            transfers::create(&client, json, args, v1::TransferDirection::Withdrawal).await
        }
        Command::Transfers {
            account_id,
            status,
            direction,
        } => transfers::list(&client, json, account_id, status, direction).await,
        Command::Orphans { account_id } => transfers::orphans(&client, json, account_id).await,
        Command::Transfer { id } => transfers::get(&client, json, id).await,
        Command::Cancel { id } => transfers::cancel(&client, json, id).await,
        Command::Watch(args) => watch::run(&client, json, args).await,
        Command::BankTransfer(command) => bank_transfers::run(&client, json, command).await,
        Command::Risk(command) => risk::run(&client, json, command).await,
        Command::Returns => risk::returns(&client, json).await,
        Command::Audit {
            account_id,
            resource,
            page_size,
            page_token,
        } => {
            let audit = RiskCommand::Audit {
                account_id,
                resource,
                page_size,
                page_token,
            };
            risk::run(&client, json, audit).await
        }
        Command::Sandbox(command) => sandbox::run(&client, json, command).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
