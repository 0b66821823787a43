//! The bank link commands (BankLinkService): `link-token`, `link`, `links`, `unlink`.

use clap::Args;
use funding_client::FundingClient;
use funding_client::v1;

use crate::error::CliError;
use crate::output;
use crate::show::{every_page, missing, new_key, print_json, show};

#[derive(Debug, Args)]
pub struct LinkTokenArgs {
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
}

#[derive(Debug, Args)]
pub struct LinkArgs {
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

/// `link-token` (CreateLinkToken).
pub async fn link_token(
    client: &FundingClient,
    json: bool,
    args: LinkTokenArgs,
) -> Result<(), CliError> {
    let request = v1::CreateLinkTokenRequest {
        account_id: args.account_id,
        bank_link_id: args.bank_link_id,
        redirect_uri: args.redirect_uri,
        android_package_name: args.android_package_name,
        language: args.language,
        country_codes: args.country_codes,
    };
    let token = client
        .bank_links()
        .create_link_token(request)
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

/// `link` (CreateBankLink).
pub async fn create(client: &FundingClient, json: bool, args: LinkArgs) -> Result<(), CliError> {
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
    show(json, &[link], false)
}

/// `links` (ListBankLinks, every page).
pub async fn list(client: &FundingClient, json: bool, account_id: String) -> Result<(), CliError> {
    let links = every_page(|page_token| {
        let mut service = client.bank_links();
        let request = v1::ListBankLinksRequest {
            account_id: account_id.clone(),
            page_size: 0,
            page_token,
        };
        async move {
            let page = service.list_bank_links(request).await?.into_inner();
            Ok((page.bank_links, page.next_page_token))
        }
    })
    .await?;
    show(json, &links, true)
}

/// `unlink` (DeleteBankLink).
pub async fn delete(client: &FundingClient, json: bool, id: String) -> Result<(), CliError> {
    let link = client
        .bank_links()
        .delete_bank_link(v1::DeleteBankLinkRequest { id })
        .await?
        .into_inner()
        .bank_link
        .ok_or_else(|| missing("bank link"))?;
    show(json, &[link], false)
}
