//! The sandbox helpers (SandboxService; sandbox mode only): `sandbox public-token` and
//! `sandbox processor-token`.

use clap::Subcommand;
use funding_client::FundingClient;
use funding_client::v1;

use crate::error::CliError;
use crate::json;
use crate::show::print_json;

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
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

/// One `sandbox` subcommand.
pub async fn run(
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
