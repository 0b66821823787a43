//! The [`PlaidGateway`] port on [`PlaidClient`]: the link-flow endpoints, their answers turned into
//! domain values (tokens checked for their shape, ids for theirs). Reads, processor tokens (which
//! may be created more than once) and Item removal are safe to repeat; the public token exchange is
//! not: the token is single-use, so a repeat after an unknown outcome could only fail and leave the
//! first exchange's Item behind. It is repeated only where Plaid surely did nothing
//! (`PLANNED_MAINTENANCE`, rate limiting, no connection made).

use async_trait::async_trait;
use funding_core::ports::{
    AccountBalance, ExchangedItem, ItemState, LinkToken, LinkTokenRequest, PlaidAccount,
    PlaidGateway, ProviderError,
};
use funding_domain::{
    AccessToken, PlaidAccountId, PlaidItemId, ProcessorToken, PublicToken, ValidationError,
};
use reqwest::StatusCode;

use crate::call::Endpoint;
use crate::client::PlaidClient;
use crate::failure::decode_error;
use crate::wire::link::{
    ALPACA_PROCESSOR, AccountsGetRequest, AccountsGetResponse, ItemGetRequest, ItemGetResponse,
    ItemRemoveRequest, ItemRemoveResponse, LinkTokenCreateRequest, LinkTokenCreateResponse,
    LinkTokenUser, ProcessorTokenCreateRequest, ProcessorTokenCreateResponse,
    PublicTokenExchangeRequest, PublicTokenExchangeResponse, SANDBOX_INITIAL_PRODUCTS,
    SandboxPublicTokenCreateRequest, SandboxPublicTokenCreateResponse,
};

pub(crate) const EXCHANGE_PUBLIC_TOKEN: Endpoint = Endpoint {
    path: "/item/public_token/exchange",
    idempotent: false,
};
pub(crate) const REMOVE_ITEM: Endpoint = Endpoint {
    path: "/item/remove",
    idempotent: true,
};
pub(crate) const CREATE_PROCESSOR_TOKEN: Endpoint = Endpoint {
    path: "/processor/token/create",
    idempotent: true,
};
pub(crate) const GET_ITEM: Endpoint = Endpoint {
    path: "/item/get",
    idempotent: true,
};
pub(crate) const GET_ACCOUNTS: Endpoint = Endpoint {
    path: "/accounts/get",
    idempotent: true,
};
pub(crate) const CREATE_LINK_TOKEN: Endpoint = Endpoint {
    path: "/link/token/create",
    idempotent: true,
};
pub(crate) const SANDBOX_CREATE_PUBLIC_TOKEN: Endpoint = Endpoint {
    path: "/sandbox/public_token/create",
    idempotent: true,
};

#[async_trait]
impl PlaidGateway for PlaidClient {
    #[tracing::instrument(skip_all, fields(endpoint = CREATE_LINK_TOKEN.path, update_mode = request.access_token.is_some()))]
    async fn create_link_token(
        &self,
        request: &LinkTokenRequest,
    ) -> Result<LinkToken, ProviderError> {
        let wire = LinkTokenCreateRequest {
            client_name: &request.client_name,
            language: &request.language,
            country_codes: &request.country_codes,
            user: LinkTokenUser {
                client_user_id: &request.client_user_id,
            },
            products: &request.products,
            access_token: request.access_token.as_ref().map(|t| t.expose_secret()),
            webhook: request.webhook.as_deref(),
            redirect_uri: request.redirect_uri.as_deref(),
            android_package_name: request.android_package_name.as_deref(),
        };
        let response: LinkTokenCreateResponse = self.call(CREATE_LINK_TOKEN, &wire).await?;
        Ok(LinkToken {
            link_token: response.link_token,
            expiration: response.expiration,
        })
    }

    #[tracing::instrument(skip_all, fields(endpoint = EXCHANGE_PUBLIC_TOKEN.path, item_id = tracing::field::Empty))]
    async fn exchange_public_token(
        &self,
        public_token: &PublicToken,
    ) -> Result<ExchangedItem, ProviderError> {
        let request = PublicTokenExchangeRequest {
            public_token: public_token.expose_secret(),
        };
        let response: PublicTokenExchangeResponse =
            self.call(EXCHANGE_PUBLIC_TOKEN, &request).await?;
        let item = ExchangedItem {
            access_token: read(
                EXCHANGE_PUBLIC_TOKEN,
                AccessToken::parse(&response.access_token),
            )?,
            item_id: read(EXCHANGE_PUBLIC_TOKEN, PlaidItemId::parse(&response.item_id))?,
        };
        tracing::Span::current().record("item_id", item.item_id.as_str());
        Ok(item)
    }

    #[tracing::instrument(skip_all, fields(endpoint = CREATE_PROCESSOR_TOKEN.path, account_id = %account_id))]
    async fn create_processor_token(
        &self,
        access_token: &AccessToken,
        account_id: &PlaidAccountId,
    ) -> Result<ProcessorToken, ProviderError> {
        let request = ProcessorTokenCreateRequest {
            access_token: access_token.expose_secret(),
            account_id: account_id.as_str(),
            processor: ALPACA_PROCESSOR,
        };
        let response: ProcessorTokenCreateResponse =
            self.call(CREATE_PROCESSOR_TOKEN, &request).await?;
        read(
            CREATE_PROCESSOR_TOKEN,
            ProcessorToken::parse(&response.processor_token),
        )
    }

    #[tracing::instrument(skip_all, fields(endpoint = REMOVE_ITEM.path))]
    async fn remove_item(&self, access_token: &AccessToken) -> Result<(), ProviderError> {
        let request = ItemRemoveRequest {
            access_token: access_token.expose_secret(),
        };
        let _: ItemRemoveResponse = self.call(REMOVE_ITEM, &request).await?;
        Ok(())
    }

    async fn account_balance(
        &self,
        access_token: &AccessToken,
        account_id: &PlaidAccountId,
    ) -> Result<AccountBalance, ProviderError> {
        PlaidClient::account_balance(self, access_token, account_id).await
    }

    async fn owner_names(
        &self,
        access_token: &AccessToken,
        account_id: &PlaidAccountId,
    ) -> Result<Vec<String>, ProviderError> {
        PlaidClient::owner_names(self, access_token, account_id).await
    }

    async fn match_owner_name(
        &self,
        access_token: &AccessToken,
        account_id: &PlaidAccountId,
        legal_name: &str,
    ) -> Result<Option<u8>, ProviderError> {
        PlaidClient::match_owner_name(self, access_token, account_id, legal_name).await
    }

    #[tracing::instrument(skip_all, fields(endpoint = GET_ITEM.path))]
    async fn get_item(&self, access_token: &AccessToken) -> Result<ItemState, ProviderError> {
        let request = ItemGetRequest {
            access_token: access_token.expose_secret(),
        };
        let response: ItemGetResponse = self.call(GET_ITEM, &request).await?;
        Ok(ItemState {
            error_code: response.item.error.map(|error| error.error_code),
        })
    }

    #[tracing::instrument(skip_all, fields(endpoint = GET_ACCOUNTS.path))]
    async fn list_accounts(
        &self,
        access_token: &AccessToken,
    ) -> Result<Vec<PlaidAccount>, ProviderError> {
        let request = AccountsGetRequest {
            access_token: access_token.expose_secret(),
        };
        let response: AccountsGetResponse = self.call(GET_ACCOUNTS, &request).await?;
        response
            .accounts
            .into_iter()
            .map(|account| {
                Ok(PlaidAccount {
                    account_id: read(GET_ACCOUNTS, PlaidAccountId::parse(&account.account_id))?,
                    name: account.name,
                    mask: account.mask,
                    account_type: account.account_type,
                    subtype: account.subtype,
                })
            })
            .collect()
    }

    #[tracing::instrument(skip_all, fields(endpoint = SANDBOX_CREATE_PUBLIC_TOKEN.path, institution_id = %institution_id))]
    async fn sandbox_create_public_token(
        &self,
        institution_id: &str,
    ) -> Result<PublicToken, ProviderError> {
        let request = SandboxPublicTokenCreateRequest {
            institution_id,
            initial_products: SANDBOX_INITIAL_PRODUCTS,
        };
        let response: SandboxPublicTokenCreateResponse =
            self.call(SANDBOX_CREATE_PUBLIC_TOKEN, &request).await?;
        read(
            SANDBOX_CREATE_PUBLIC_TOKEN,
            PublicToken::parse(&response.public_token),
        )
    }
}

/// A value from a 200 answer that breaks its rule is an answer we cannot use. The validation error
/// names the field and the rule, never the value.
pub(crate) fn read<T>(
    endpoint: Endpoint,
    parsed: Result<T, ValidationError>,
) -> Result<T, ProviderError> {
    parsed.map_err(|error| decode_error(endpoint.path, StatusCode::OK, &error.to_string()))
}
