//! The Plaid processor rail's commands (BankTransferService): `bank-transfer create`, `get`, `list`
//! and `cancel`.

use std::collections::HashMap;

use clap::{Args, Subcommand, ValueEnum};
use funding_client::FundingClient;
use funding_client::v1;

use crate::error::CliError;
use crate::show::{every_page, missing, new_key, show};

#[derive(Debug, Subcommand)]
pub enum BankTransferCommand {
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
pub struct BankTransferCreateArgs {
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

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected key=value, got {text:?}")),
    }
}

/// One `bank-transfer` subcommand.
pub async fn run(
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
            show(json, &[bt], false)
        }
        BankTransferCommand::Get { id } => {
            let bt = client
                .bank_transfers()
                .get_bank_transfer(v1::GetBankTransferRequest { id })
                .await?
                .into_inner()
                .bank_transfer
                .ok_or_else(|| missing("bank transfer"))?;
            show(json, &[bt], false)
        }
        BankTransferCommand::List { page_size } => {
            let items = every_page(|page_token| {
                let mut service = client.bank_transfers();
                let request = v1::ListBankTransfersRequest {
                    page_size,
                    page_token,
                    ..Default::default()
                };
                async move {
                    let page = service.list_bank_transfers(request).await?.into_inner();
                    Ok((page.bank_transfers, page.next_page_token))
                }
            })
            .await?;
            show(json, &items, true)
        }
        BankTransferCommand::Cancel { id } => {
            let bt = client
                .bank_transfers()
                .cancel_bank_transfer(v1::CancelBankTransferRequest { id })
                .await?
                .into_inner()
                .bank_transfer
                .ok_or_else(|| missing("bank transfer"))?;
            show(json, &[bt], false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
