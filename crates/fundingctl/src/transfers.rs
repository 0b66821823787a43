//! The transfer commands (TransferService): `deposit`, `withdraw`, `transfers`, `transfer`,
//! `cancel` and `orphans` (`watch` is in its own module).

use clap::{Args, ValueEnum};
use funding_client::FundingClient;
use funding_client::v1;
use serde_json::Value;

use crate::error::CliError;
use crate::show::{every_page, missing, new_key, print_json, show};
use crate::{json, output};

#[derive(Debug, Args)]
pub struct MoveArgs {
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
pub enum DirectionArg {
    Deposit,
    Withdrawal,
}

impl From<DirectionArg> for v1::TransferDirection {
    fn from(direction: DirectionArg) -> Self {
        match direction {
            DirectionArg::Deposit => Self::Deposit,
            DirectionArg::Withdrawal => Self::Withdrawal,
        }
    }
}

/// `complete`, `COMPLETE`, `sent-to-clearing` or `TRANSFER_STATUS_COMPLETE`.
pub fn parse_transfer_status(text: &str) -> Result<v1::TransferStatus, String> {
    let upper = text.trim().to_uppercase().replace('-', "_");
    v1::TransferStatus::from_str_name(&upper)
        .or_else(|| v1::TransferStatus::from_str_name(&format!("TRANSFER_STATUS_{upper}")))
        .filter(|status| *status != v1::TransferStatus::Unspecified)
        .ok_or_else(|| format!("unknown transfer status {text:?}"))
}

/// `deposit` and `withdraw` (CreateTransfer).
pub async fn create(
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
    show(json, &[transfer], false)
}

/// `transfers` (ListTransfers, every page).
pub async fn list(
    client: &FundingClient,
    json: bool,
    account_id: String,
    status: Option<v1::TransferStatus>,
    direction: Option<DirectionArg>,
) -> Result<(), CliError> {
    let direction = direction.map_or(v1::TransferDirection::Unspecified, Into::into);
    let transfers = every_page(|page_token| {
        let mut service = client.transfers();
        let request = v1::ListTransfersRequest {
            account_id: account_id.clone(),
            page_size: 0,
            page_token,
            status: status.unwrap_or(v1::TransferStatus::Unspecified).into(),
            direction: direction.into(),
        };
        async move {
            let page = service.list_transfers(request).await?.into_inner();
            Ok((page.transfers, page.next_page_token))
        }
    })
    .await?;
    show(json, &transfers, true)
}

/// `orphans` (ListProviderOrphans, every page).
pub async fn orphans(
    client: &FundingClient,
    json: bool,
    account_id: String,
) -> Result<(), CliError> {
    let orphans = every_page(|page_token| {
        let mut service = client.transfers();
        let request = v1::ListProviderOrphansRequest {
            account_id: account_id.clone(),
            page_size: 0,
            page_token,
        };
        async move {
            let page = service.list_provider_orphans(request).await?.into_inner();
            Ok((page.orphans, page.next_page_token))
        }
    })
    .await?;
    if json {
        let values: Vec<Value> = orphans.iter().map(json::provider_orphan).collect();
        return print_json(&Value::Array(values));
    }
    print!("{}", output::provider_orphans(&orphans));
    Ok(())
}

/// `transfer` (GetTransfer).
pub async fn get(client: &FundingClient, json: bool, id: String) -> Result<(), CliError> {
    let transfer = client
        .transfers()
        .get_transfer(v1::GetTransferRequest { id })
        .await?
        .into_inner()
        .transfer
        .ok_or_else(|| missing("transfer"))?;
    show(json, &[transfer], false)
}

/// `cancel` (CancelTransfer).
pub async fn cancel(client: &FundingClient, json: bool, id: String) -> Result<(), CliError> {
    let transfer = client
        .transfers()
        .cancel_transfer(v1::CancelTransferRequest { id })
        .await?
        .into_inner()
        .transfer
        .ok_or_else(|| missing("transfer"))?;
    show(json, &[transfer], false)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
