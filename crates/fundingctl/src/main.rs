//! `fundingctl`: the operator/developer CLI of the funding service (`funding.v1` over gRPC).
//!
//! Human tables by default, `--json` for scripts (one JSON document per answer; NDJSON for `watch`).
//! Errors are one line `error: <CODE>: <message>` on stderr, then the `google.rpc` details.
//!
//! Exit codes: 0 on success; 2 when the service answered INVALID_ARGUMENT (and for command-line
//! usage errors, as clap does); 1 for every other error.

mod error;
mod json;
mod output;
mod watch;

use std::collections::HashMap;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use funding_client::FundingClient;
use funding_client::v1;
use serde_json::Value;

use crate::error::CliError;

const ABOUT: &str =
    "The funding service's CLI: bank links, transfers, the Plaid rail, sandbox helpers.";
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
    LinkToken {
        #[arg(long)]
        account_id: String,
        #[arg(long, default_value = "")]
        bank_link_id: String,
        #[arg(long, default_value = "")]
        redirect_uri: String,
        #[arg(long, default_value = "")]
        android_package_name: String,
        #[arg(long, default_value = "")]
        language: String,
        /// Repeat for several (`--country-code US --country-code CA`); US when absent.
        #[arg(long = "country-code")]
        country_codes: Vec<String>,
    },
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
    /// Sandbox helpers (SandboxService; sandbox mode only).
    #[command(subcommand)]
    Sandbox(SandboxCommand),
}

#[derive(Debug, Args)]
struct LinkArgs {
    #[arg(long)]
    account_id: String,
    #[arg(long)]
    public_token: String,
    #[arg(long)]
    plaid_account_id: String,
    #[arg(long, default_value = "")]
    nickname: String,
    /// Default: a new UUID.
    #[arg(long)]
    idempotency_key: Option<String>,
    /// Changing banks: the account's current link, which this one replaces.
    #[arg(long, default_value = "")]
    replace_bank_link_id: String,
}

#[derive(Debug, Args)]
struct MoveArgs {
    #[arg(long)]
    account_id: String,
    #[arg(long)]
    bank_link_id: String,
    /// A decimal amount, e.g. 12.34.
    #[arg(long)]
    amount: String,
    /// Default: a new UUID.
    #[arg(long)]
    idempotency_key: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DirectionArg {
    Deposit,
    Withdrawal,
}

#[derive(Debug, Subcommand)]
enum BankTransferCommand {
    /// Create a bank transfer (CreateBankTransfer).
    Create(Box<BankTransferCreateArgs>),
    /// One bank transfer (GetBankTransfer).
    Get { id: String },
    /// Bank transfers, every page (ListBankTransfers).
    List {
        #[arg(long, default_value_t = 0)]
        page_size: i32,
    },
    /// Cancel a bank transfer (CancelBankTransfer).
    Cancel { id: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TypeArg {
    Debit,
    Credit,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum NetworkArg {
    Ach,
    SameDayAch,
    Wire,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AchClassArg {
    Ccd,
    Ppd,
    Tel,
    Web,
}

#[derive(Debug, Args)]
struct BankTransferCreateArgs {
    #[arg(long)]
    processor_token: String,
    #[arg(long = "type")]
    kind: TypeArg,
    #[arg(long)]
    network: NetworkArg,
    #[arg(long)]
    amount: String,
    #[arg(long, default_value = "USD")]
    iso_currency_code: String,
    #[arg(long)]
    description: String,
    #[arg(long)]
    ach_class: Option<AchClassArg>,
    #[arg(long)]
    legal_name: String,
    #[arg(long)]
    email: Option<String>,
    #[arg(long)]
    custom_tag: Option<String>,
    /// key=value, repeatable.
    #[arg(long, value_parser = parse_key_value)]
    metadata: Vec<(String, String)>,
    #[arg(long)]
    origination_account_id: Option<String>,
    /// Default: a new UUID.
    #[arg(long)]
    idempotency_key: Option<String>,
}

#[derive(Debug, Subcommand)]
enum SandboxCommand {
    /// A Plaid sandbox public token and its checking account id (CreatePublicToken).
    PublicToken {
        #[arg(long, default_value = "")]
        institution_id: String,
    },
    /// A Plaid sandbox processor token (CreateProcessorToken).
    ProcessorToken {
        #[arg(long, default_value = "")]
        institution_id: String,
    },
}

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected key=value, got {text:?}")),
    }
}

/// `complete`, `COMPLETE`, `sent-to-clearing` or `TRANSFER_STATUS_COMPLETE`.
fn parse_transfer_status(text: &str) -> Result<v1::TransferStatus, String> {
    let upper = text.trim().to_uppercase().replace('-', "_");
    v1::TransferStatus::from_str_name(&upper)
        .or_else(|| v1::TransferStatus::from_str_name(&format!("TRANSFER_STATUS_{upper}")))
        .filter(|status| *status != v1::TransferStatus::Unspecified)
        .ok_or_else(|| format!("unknown transfer status {text:?}"))
}

fn new_key(key: Option<String>) -> String {
    key.unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// Prints a JSON document on stdout.
fn print_json(value: &Value) -> Result<(), CliError> {
    let text = serde_json::to_string(value).map_err(|e| CliError::Other(format!("json: {e}")))?;
    println!("{text}");
    Ok(())
}

fn missing(what: &str) -> CliError {
    CliError::Other(format!("the service answered without a {what}"))
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
        Command::LinkToken {
            account_id,
            bank_link_id,
            redirect_uri,
            android_package_name,
            language,
            country_codes,
        } => {
            let token = client
                .bank_links()
                .create_link_token(v1::CreateLinkTokenRequest {
                    account_id,
                    bank_link_id,
                    redirect_uri,
                    android_package_name,
                    language,
                    country_codes,
                })
                .await?
                .into_inner();
            let expiration = output::timestamp(token.expiration.as_ref());
            if json {
                return print_json(&serde_json::json!({
                    "link_token": token.link_token,
                    "expiration": expiration,
                }));
            }
            println!("{}  (expires {expiration})", token.link_token);
            Ok(())
        }
        Command::Link(args) => {
            let request = v1::CreateBankLinkRequest {
                account_id: args.account_id,
                public_token: args.public_token,
                plaid_account_id: args.plaid_account_id,
                nickname: args.nickname,
                idempotency_key: new_key(args.idempotency_key),
                replace_bank_link_id: args.replace_bank_link_id,
            };
            let link = client
                .bank_links()
                .create_bank_link(request)
                .await?
                .into_inner()
                .bank_link
                .ok_or_else(|| missing("bank link"))?;
            show_links(json, &[link], false)
        }
        Command::Links { account_id } => {
            let mut links = Vec::new();
            let mut page_token = String::new();
            loop {
                let page = client
                    .bank_links()
                    .list_bank_links(v1::ListBankLinksRequest {
                        account_id: account_id.clone(),
                        page_size: 0,
                        page_token,
                    })
                    .await?
                    .into_inner();
                links.extend(page.bank_links);
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            show_links(json, &links, true)
        }
        Command::Unlink { id } => {
            let link = client
                .bank_links()
                .delete_bank_link(v1::DeleteBankLinkRequest { id })
                .await?
                .into_inner()
                .bank_link
                .ok_or_else(|| missing("bank link"))?;
            show_links(json, &[link], false)
        }
        Command::Deposit(args) => {
            create_transfer(&client, json, args, v1::TransferDirection::Deposit).await
        }
        Command::Withdraw(args) => {
            create_transfer(&client, json, args, v1::TransferDirection::Withdrawal).await
        }
        Command::Transfers {
            account_id,
            status,
            direction,
        } => {
            let direction = match direction {
                None => v1::TransferDirection::Unspecified,
                Some(DirectionArg::Deposit) => v1::TransferDirection::Deposit,
                Some(DirectionArg::Withdrawal) => v1::TransferDirection::Withdrawal,
            };
            let mut transfers = Vec::new();
            let mut page_token = String::new();
            loop {
                let page = client
                    .transfers()
                    .list_transfers(v1::ListTransfersRequest {
                        account_id: account_id.clone(),
                        page_size: 0,
                        page_token,
                        status: status.unwrap_or(v1::TransferStatus::Unspecified).into(),
                        direction: direction.into(),
                    })
                    .await?
                    .into_inner();
                transfers.extend(page.transfers);
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            show_transfers(json, &transfers, true)
        }
        Command::Orphans { account_id } => {
            let mut orphans = Vec::new();
            let mut page_token = String::new();
            loop {
                let page = client
                    .transfers()
                    .list_provider_orphans(v1::ListProviderOrphansRequest {
                        account_id: account_id.clone(),
                        page_size: 0,
                        page_token,
                    })
                    .await?
                    .into_inner();
                orphans.extend(page.orphans);
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            if json {
                let values: Vec<Value> = orphans.iter().map(json::provider_orphan).collect();
                return print_json(&Value::Array(values));
            }
            print!("{}", output::provider_orphans(&orphans));
            Ok(())
        }
        Command::Transfer { id } => {
            let transfer = client
                .transfers()
                .get_transfer(v1::GetTransferRequest { id })
                .await?
                .into_inner()
                .transfer
                .ok_or_else(|| missing("transfer"))?;
            show_transfers(json, &[transfer], false)
        }
        Command::Cancel { id } => {
            let transfer = client
                .transfers()
                .cancel_transfer(v1::CancelTransferRequest { id })
                .await?
                .into_inner()
                .transfer
                .ok_or_else(|| missing("transfer"))?;
            show_transfers(json, &[transfer], false)
        }
        Command::Watch(args) => watch::run(&client, json, args).await,
        Command::BankTransfer(command) => bank_transfer(&client, json, command).await,
        Command::Sandbox(command) => sandbox(&client, json, command).await,
    }
}

async fn create_transfer(
    client: &FundingClient,
    json: bool,
    args: MoveArgs,
    direction: v1::TransferDirection,
) -> Result<(), CliError> {
    let request = v1::CreateTransferRequest {
        account_id: args.account_id,
        bank_link_id: args.bank_link_id,
        amount: args.amount,
        direction: direction.into(),
        idempotency_key: new_key(args.idempotency_key),
    };
    let transfer = client
        .transfers()
        .create_transfer(request)
        .await?
        .into_inner()
        .transfer
        .ok_or_else(|| missing("transfer"))?;
    show_transfers(json, &[transfer], false)
}

fn show_links(json: bool, links: &[v1::BankLink], list: bool) -> Result<(), CliError> {
    if json {
        let values: Vec<Value> = links.iter().map(json::bank_link).collect();
        return print_json(&one_or_many(values, list));
    }
    print!("{}", output::bank_links(links));
    if let [link] = links
        && !list
    {
        print!("{}", output::waiting(link.waiting.as_ref()));
    }
    Ok(())
}

fn show_transfers(json: bool, transfers: &[v1::Transfer], list: bool) -> Result<(), CliError> {
    if json {
        let values: Vec<Value> = transfers.iter().map(json::transfer).collect();
        return print_json(&one_or_many(values, list));
    }
    print!("{}", output::transfers(transfers));
    if let [transfer] = transfers
        && !list
    {
        print!("{}", output::waiting(transfer.waiting.as_ref()));
    }
    Ok(())
}

fn show_bank_transfers(json: bool, items: &[v1::BankTransfer], list: bool) -> Result<(), CliError> {
    if json {
        let values: Vec<Value> = items.iter().map(json::bank_transfer).collect();
        return print_json(&one_or_many(values, list));
    }
    print!("{}", output::bank_transfers(items));
    if let [item] = items
        && !list
    {
        print!("{}", output::waiting(item.waiting.as_ref()));
    }
    Ok(())
}

/// A list answers an array; a single resource answers the object itself.
fn one_or_many(mut values: Vec<Value>, list: bool) -> Value {
    if !list && values.len() == 1 {
        values.remove(0)
    } else {
        Value::Array(values)
    }
}

async fn bank_transfer(
    client: &FundingClient,
    json: bool,
    command: BankTransferCommand,
) -> Result<(), CliError> {
    match command {
        BankTransferCommand::Create(args) => {
            let r#type = match args.kind {
                TypeArg::Debit => v1::BankTransferType::Debit,
                TypeArg::Credit => v1::BankTransferType::Credit,
            };
            let network = match args.network {
                NetworkArg::Ach => v1::BankTransferNetwork::Ach,
                NetworkArg::SameDayAch => v1::BankTransferNetwork::SameDayAch,
                NetworkArg::Wire => v1::BankTransferNetwork::Wire,
            };
            let ach_class = match args.ach_class {
                None => v1::AchClass::Unspecified,
                Some(AchClassArg::Ccd) => v1::AchClass::Ccd,
                Some(AchClassArg::Ppd) => v1::AchClass::Ppd,
                Some(AchClassArg::Tel) => v1::AchClass::Tel,
                Some(AchClassArg::Web) => v1::AchClass::Web,
            };
            let metadata: HashMap<String, String> = args.metadata.into_iter().collect();
            let request = v1::CreateBankTransferRequest {
                idempotency_key: new_key(args.idempotency_key),
                processor_token: args.processor_token,
                r#type: r#type.into(),
                network: network.into(),
                amount: args.amount,
                iso_currency_code: args.iso_currency_code,
                description: args.description,
                ach_class: ach_class.into(),
                user: Some(v1::BankTransferUser {
                    legal_name: args.legal_name,
                    email_address: args.email.unwrap_or_default(),
                    routing_number: String::new(),
                }),
                custom_tag: args.custom_tag.unwrap_or_default(),
                metadata,
                origination_account_id: args.origination_account_id.unwrap_or_default(),
            };
            let bt = client
                .bank_transfers()
                .create_bank_transfer(request)
                .await?
                .into_inner()
                .bank_transfer
                .ok_or_else(|| missing("bank transfer"))?;
            show_bank_transfers(json, &[bt], false)
        }
        BankTransferCommand::Get { id } => {
            let bt = client
                .bank_transfers()
                .get_bank_transfer(v1::GetBankTransferRequest { id })
                .await?
                .into_inner()
                .bank_transfer
                .ok_or_else(|| missing("bank transfer"))?;
            show_bank_transfers(json, &[bt], false)
        }
        BankTransferCommand::List { page_size } => {
            let mut items = Vec::new();
            let mut page_token = String::new();
            loop {
                let page = client
                    .bank_transfers()
                    .list_bank_transfers(v1::ListBankTransfersRequest {
                        page_size,
                        page_token,
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                items.extend(page.bank_transfers);
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            show_bank_transfers(json, &items, true)
        }
        BankTransferCommand::Cancel { id } => {
            let bt = client
                .bank_transfers()
                .cancel_bank_transfer(v1::CancelBankTransferRequest { id })
                .await?
                .into_inner()
                .bank_transfer
                .ok_or_else(|| missing("bank transfer"))?;
            show_bank_transfers(json, &[bt], false)
        }
    }
}

async fn sandbox(
    client: &FundingClient,
    json: bool,
    command: SandboxCommand,
) -> Result<(), CliError> {
    match command {
        SandboxCommand::PublicToken { institution_id } => {
            let response = client
                .sandbox()
                .create_public_token(v1::CreatePublicTokenRequest { institution_id })
                .await?
                .into_inner();
            let checking = response
                .accounts
                .iter()
                .find(|a| a.subtype == "checking")
                .map(|a| a.account_id.clone());
            if json {
                return print_json(&json::public_token(&response, checking.as_deref()));
            }
            println!("public_token         {}", response.public_token);
            println!(
                "checking_account_id  {}",
                checking.as_deref().unwrap_or("-")
            );
            Ok(())
        }
        SandboxCommand::ProcessorToken { institution_id } => {
            let response = client
                .sandbox()
                .create_processor_token(v1::CreateProcessorTokenRequest { institution_id })
                .await?
                .into_inner();
            if json {
                return print_json(&json::processor_token(&response));
            }
            println!("processor_token  {}", response.processor_token);
            Ok(())
        }
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

    #[test]
    fn statuses_parse_in_every_spelling() {
        for text in ["complete", "COMPLETE", "TRANSFER_STATUS_COMPLETE"] {
            assert_eq!(
                parse_transfer_status(text),
                Ok(v1::TransferStatus::Complete)
            );
        }
        assert_eq!(
            parse_transfer_status("sent-to-clearing"),
            Ok(v1::TransferStatus::SentToClearing)
        );
        assert!(parse_transfer_status("done").is_err());
        assert!(parse_transfer_status("unspecified").is_err());
    }

    #[test]
    fn metadata_is_key_equals_value() {
        assert_eq!(
            parse_key_value("a=b=c"),
            Ok(("a".to_owned(), "b=c".to_owned()))
        );
        assert!(parse_key_value("=x").is_err());
        assert!(parse_key_value("x").is_err());
    }
}
