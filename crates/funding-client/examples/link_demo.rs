//! The link flow from a Rust caller, against a running `fundingd` in sandbox mode:
//! a public token, a bank link, APPROVED through Alpaca's events, listed, deleted.
//!
//! ```sh
//! cargo run -p fundingd &                                   # sandbox mode on 127.0.0.1:50051
//! cargo run -p funding-client --example link_demo           # or: -- http://HOST:PORT [TOKEN]
//! ```

use std::time::Duration;

use funding_client::FundingClient;
use funding_client::v1::{self, BankLinkStatus};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let address = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:50051".into());
    let token = args.next();
    let client = FundingClient::connect(address.clone(), token.as_deref()).await?;
    println!("connected to {address}");

    let sandbox = client
        .sandbox()
        .create_public_token(v1::CreatePublicTokenRequest::default())
        .await?
        .into_inner();
    let checking = sandbox
        .accounts
        .iter()
        .find(|a| a.subtype == "checking")
        .ok_or("no checking account")?;
    println!(
        "public token for Plaid account {} ({} ••{})",
        checking.account_id, checking.name, checking.mask
    );

    let account_id = uuid::Uuid::new_v4().to_string();
    let request = v1::CreateBankLinkRequest {
        account_id: account_id.clone(),
        public_token: sandbox.public_token,
        plaid_account_id: checking.account_id.clone(),
        nickname: "Demo checking".into(),
        idempotency_key: uuid::Uuid::new_v4().to_string(),
        replace_bank_link_id: String::new(),
    };
    let link = client
        .bank_links()
        .create_bank_link(request)
        .await?
        .into_inner()
        .bank_link
        .ok_or("no link")?;
    println!("bank link {} created: {:?}", link.id, link.status());

    let mut status = link.status();
    for _ in 0..100 {
        if status == BankLinkStatus::Approved {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let get = v1::GetBankLinkRequest {
            id: link.id.clone(),
        };
        status = client
            .bank_links()
            .get_bank_link(get)
            .await?
            .into_inner()
            .bank_link
            .ok_or("no link")?
            .status();
    }
    println!("bank link {}: {status:?}", link.id);

    let list = v1::ListBankLinksRequest {
        account_id,
        page_size: 0,
        page_token: String::new(),
    };
    let listed = client
        .bank_links()
        .list_bank_links(list)
        .await?
        .into_inner();
    println!("the account has {} bank link(s)", listed.bank_links.len());

    let deleted = client
        .bank_links()
        .delete_bank_link(v1::DeleteBankLinkRequest {
            id: link.id.clone(),
        })
        .await?;
    println!(
        "deleted: {:?}",
        deleted.into_inner().bank_link.ok_or("no link")?.status()
    );
    Ok(())
}
