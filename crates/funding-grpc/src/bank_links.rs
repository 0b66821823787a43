//! `funding.v1.BankLinkService`: requests in, core use cases, links or statuses out.

use funding_client::v1::bank_link_service_server::BankLinkService;
use funding_client::v1::{
    CreateBankLinkRequest, CreateBankLinkResponse, CreateLinkTokenRequest, CreateLinkTokenResponse,
    DeleteBankLinkRequest, DeleteBankLinkResponse, GetBankLinkRequest, GetBankLinkResponse,
    ListBankLinksRequest, ListBankLinksResponse,
};
use funding_core::{BankLinks, CreateBankLinkInput, CreateLinkTokenInput};
use tonic::{Request, Response, Status};

use crate::auth::{Scope, require};
use crate::convert;
use crate::observe::observed;

pub struct BankLinkApi {
    links: BankLinks,
}

impl BankLinkApi {
    pub fn new(links: BankLinks) -> Self {
        Self { links }
    }
}

#[tonic::async_trait]
impl BankLinkService for BankLinkApi {
    async fn create_link_token(
        &self,
        request: Request<CreateLinkTokenRequest>,
    ) -> Result<Response<CreateLinkTokenResponse>, Status> {
        observed("CreateLinkToken", async move {
            require(&request, Scope::LinksWrite)?;
            let body = request.into_inner();
            let token = self
                .links
                .create_link_token(CreateLinkTokenInput {
                    account_id: body.account_id,
                    bank_link_id: body.bank_link_id,
                    redirect_uri: body.redirect_uri,
                    android_package_name: body.android_package_name,
                    language: body.language,
                    country_codes: body.country_codes,
                })
                .await?;
            Ok(Response::new(CreateLinkTokenResponse {
                link_token: token.link_token,
                expiration: Some(convert::timestamp(token.expiration)),
            }))
        })
        .await
    }

    async fn create_bank_link(
        &self,
        request: Request<CreateBankLinkRequest>,
    ) -> Result<Response<CreateBankLinkResponse>, Status> {
        observed("CreateBankLink", async move {
            let caller = require(&request, Scope::LinksWrite)?;
            let body = request.into_inner();
            let input = CreateBankLinkInput {
                account_id: body.account_id,
                public_token: body.public_token,
                plaid_account_id: body.plaid_account_id,
                nickname: body.nickname,
                idempotency_key: body.idempotency_key,
                replace_bank_link_id: body.replace_bank_link_id,
            };
            let link = self.links.create(&caller.name, input).await?;
            let mut answer = convert::bank_link(&link);
            answer.waiting = self
                .links
                .waiting(&link)
                .await
                .as_ref()
                .map(convert::waiting);
            Ok(Response::new(CreateBankLinkResponse {
                bank_link: Some(answer),
            }))
        })
        .await
    }

    async fn get_bank_link(
        &self,
        request: Request<GetBankLinkRequest>,
    ) -> Result<Response<GetBankLinkResponse>, Status> {
        observed("GetBankLink", async move {
            require(&request, Scope::Read)?;
            let link = self.links.get(&request.get_ref().id).await?;
            let mut answer = convert::bank_link(&link);
            answer.waiting = self
                .links
                .waiting(&link)
                .await
                .as_ref()
                .map(convert::waiting);
            Ok(Response::new(GetBankLinkResponse {
                bank_link: Some(answer),
            }))
        })
        .await
    }

    async fn list_bank_links(
        &self,
        request: Request<ListBankLinksRequest>,
    ) -> Result<Response<ListBankLinksResponse>, Status> {
        observed("ListBankLinks", async move {
            require(&request, Scope::Read)?;
            let body = request.get_ref();
            let page = self
                .links
                .list(&body.account_id, body.page_size, &body.page_token)
                .await?;
            Ok(Response::new(ListBankLinksResponse {
                bank_links: page.items.iter().map(convert::bank_link).collect(),
                next_page_token: page.next_after.map(|id| id.to_string()).unwrap_or_default(),
            }))
        })
        .await
    }

    async fn delete_bank_link(
        &self,
        request: Request<DeleteBankLinkRequest>,
    ) -> Result<Response<DeleteBankLinkResponse>, Status> {
        observed("DeleteBankLink", async move {
            require(&request, Scope::LinksWrite)?;
            let link = self.links.delete(&request.get_ref().id).await?;
            Ok(Response::new(DeleteBankLinkResponse {
                bank_link: Some(convert::bank_link(&link)),
            }))
        })
        .await
    }
}
