//! What the suites ask of a running [`TestApp`]: sandbox tokens, links, transfers and bank
//! transfers made, read (asked again while the database is busy) and polled until a status; and
//! the emulator's own records (its calls, Plaid's list, Alpaca's relationships).

use std::future::Future;
use std::time::Duration;

use funding_client::v1;
use funding_sandbox::SandboxControl;
use tonic::Status;

use crate::TestApp;

impl TestApp {
    /// A sandbox public token and its checking account id.
    pub async fn public_token(&self) -> (String, String) {
        let response = self
            .client
            .sandbox()
            .create_public_token(v1::CreatePublicTokenRequest {
                institution_id: String::new(),
            })
            .await
            .expect("CreatePublicToken")
            .into_inner();
        let checking = response
            .accounts
            .iter()
            .find(|a| a.subtype == "checking")
            .expect("a checking account");
        (response.public_token, checking.account_id.clone())
    }

    /// A valid create request for a new account, with a fresh public token and key.
    pub async fn create_request(&self) -> v1::CreateBankLinkRequest {
        let (public_token, plaid_account_id) = self.public_token().await;
        v1::CreateBankLinkRequest {
            account_id: uuid::Uuid::new_v4().to_string(),
            public_token,
            plaid_account_id,
            nickname: "Checking".into(),
            idempotency_key: uuid::Uuid::new_v4().to_string(),
            replace_bank_link_id: String::new(),
        }
    }

    pub async fn create_link(
        &self,
        request: v1::CreateBankLinkRequest,
    ) -> Result<v1::BankLink, Status> {
        let response = self.client.bank_links().create_bank_link(request).await?;
        Ok(response.into_inner().bank_link.expect("a bank link"))
    }

    /// The link; an UNAVAILABLE answer (the database busy under the whole suite's load) is asked
    /// again a few times, as a caller following RetryInfo would.
    pub async fn get_link(&self, id: &str) -> v1::BankLink {
        patiently("GetBankLink", || {
            let mut service = self.client.bank_links();
            let request = v1::GetBankLinkRequest { id: id.into() };
            async move { service.get_bank_link(request).await }
        })
        .await
        .into_inner()
        .bank_link
        .expect("a bank link")
    }

    /// A new account with an APPROVED bank link: (account id, link).
    pub async fn approved_link(&self) -> (String, v1::BankLink) {
        let request = self.create_request().await;
        let link = self
            .create_link(request.clone())
            .await
            .expect("CreateBankLink");
        let link = self
            .wait_for_link_status(&link.id, v1::BankLinkStatus::Approved)
            .await;
        (request.account_id, link)
    }

    /// A transfer request over `link` of `account_id`, with a fresh key.
    pub fn transfer_request(
        &self,
        account_id: &str,
        link: &v1::BankLink,
        amount: &str,
        direction: v1::TransferDirection,
    ) -> v1::CreateTransferRequest {
        v1::CreateTransferRequest {
            account_id: account_id.into(),
            bank_link_id: link.id.clone(),
            amount: amount.into(),
            direction: direction.into(),
            idempotency_key: uuid::Uuid::new_v4().to_string(),
        }
    }

    pub async fn create_transfer(
        &self,
        request: v1::CreateTransferRequest,
    ) -> Result<v1::Transfer, Status> {
        let response = self.client.transfers().create_transfer(request).await?;
        Ok(response.into_inner().transfer.expect("a transfer"))
    }

    /// The transfer (asked again while UNAVAILABLE, as [`get_link`](Self::get_link)).
    pub async fn get_transfer(&self, id: &str) -> v1::Transfer {
        patiently("GetTransfer", || {
            let mut service = self.client.transfers();
            let request = v1::GetTransferRequest { id: id.into() };
            async move { service.get_transfer(request).await }
        })
        .await
        .into_inner()
        .transfer
        .expect("a transfer")
    }

    /// Polls the transfer until it has `status` (bounded; fails with the last one seen).
    pub async fn wait_for_transfer_status(
        &self,
        id: &str,
        status: v1::TransferStatus,
    ) -> v1::Transfer {
        poll_until("transfer", id, status, v1::Transfer::status, || {
            self.get_transfer(id)
        })
        .await
    }

    /// A Plaid sandbox processor token, over gRPC alone.
    pub async fn processor_token(&self) -> String {
        self.client
            .sandbox()
            .create_processor_token(v1::CreateProcessorTokenRequest::default())
            .await
            .expect("CreateProcessorToken")
            .into_inner()
            .processor_token
    }

    /// A processor token whose bank the test controls (its Plaid Item, for
    /// `SandboxControl::set_item_risk`): (processor token, item id). Made as a processor partner
    /// would be given one: a sandbox public token exchanged at the emulator's Plaid, then
    /// `/processor/token/create` for the Item's checking account.
    pub async fn controlled_processor_token(&self) -> (String, String) {
        let bank = self
            .sandbox
            .create_public_token("ins_109508")
            .expect("a sandbox Item");
        let checking = bank
            .accounts
            .iter()
            .find(|account| account.subtype == "checking")
            .expect("a checking account");
        let exchanged = self
            .plaid_post(
                "/item/public_token/exchange",
                serde_json::json!({"public_token": bank.public_token}),
            )
            .await;
        let access_token = exchanged["access_token"].as_str().expect("an access token");
        let created = self
            .plaid_post(
                "/processor/token/create",
                serde_json::json!({
                    "access_token": access_token,
                    "account_id": checking.account_id,
                    "processor": "alpaca",
                }),
            )
            .await;
        let token = created["processor_token"]
            .as_str()
            .expect("a processor token")
            .to_owned();
        (token, bank.item_id)
    }

    /// A call to the emulator's Plaid with the sandbox's credentials; its answer, which must be a
    /// success.
    async fn plaid_post(&self, path: &str, mut body: serde_json::Value) -> serde_json::Value {
        body["client_id"] = "sandbox-client-id".into();
        body["secret"] = "sandbox-secret".into();
        let answer = reqwest::Client::new()
            .post(format!("{}{path}", self.plaid_url))
            .json(&body)
            .send()
            .await
            .expect("the emulator answers");
        let status = answer.status();
        let answer: serde_json::Value = answer.json().await.expect("JSON");
        assert!(status.is_success(), "{path}: {status} {answer}");
        answer
    }

    /// A valid ACH debit of `amount` under a fresh idempotency key.
    pub fn bank_transfer_request(
        &self,
        processor_token: &str,
        amount: &str,
    ) -> v1::CreateBankTransferRequest {
        v1::CreateBankTransferRequest {
            idempotency_key: uuid::Uuid::new_v4().to_string(),
            processor_token: processor_token.into(),
            r#type: v1::BankTransferType::Debit.into(),
            network: v1::BankTransferNetwork::Ach.into(),
            amount: amount.into(),
            iso_currency_code: "USD".into(),
            description: "Deposit".into(),
            ach_class: v1::AchClass::Web.into(),
            user: Some(v1::BankTransferUser {
                legal_name: "Jane Doe".into(),
                email_address: "jane@example.com".into(),
                routing_number: String::new(),
            }),
            custom_tag: "funding-tests".into(),
            metadata: [("purpose".to_owned(), "test".to_owned())].into(),
            origination_account_id: String::new(),
        }
    }

    pub async fn create_bank_transfer(
        &self,
        request: v1::CreateBankTransferRequest,
    ) -> Result<v1::BankTransfer, Status> {
        let response = self
            .client
            .bank_transfers()
            .create_bank_transfer(request)
            .await?;
        Ok(response
            .into_inner()
            .bank_transfer
            .expect("a bank transfer"))
    }

    /// The bank transfer (asked again while UNAVAILABLE, as [`get_link`](Self::get_link)).
    pub async fn get_bank_transfer(&self, id: &str) -> v1::BankTransfer {
        patiently("GetBankTransfer", || {
            let mut service = self.client.bank_transfers();
            let request = v1::GetBankTransferRequest { id: id.into() };
            async move { service.get_bank_transfer(request).await }
        })
        .await
        .into_inner()
        .bank_transfer
        .expect("a bank transfer")
    }

    /// Polls the bank transfer until it has `status` (bounded; fails with the last one seen).
    pub async fn wait_for_bank_transfer_status(
        &self,
        id: &str,
        status: v1::BankTransferStatus,
    ) -> v1::BankTransfer {
        poll_until(
            "bank transfer",
            id,
            status,
            v1::BankTransfer::status,
            || self.get_bank_transfer(id),
        )
        .await
    }

    /// Plaid's `/sandbox/bank_transfer/simulate`, over gRPC alone.
    pub async fn simulate_bank_transfer(
        &self,
        id: &str,
        event_type: &str,
        ach_return_code: &str,
    ) -> Result<(), Status> {
        self.client
            .sandbox()
            .simulate_bank_transfer(v1::SimulateBankTransferRequest {
                bank_transfer_id: id.into(),
                event_type: event_type.into(),
                ach_return_code: ach_return_code.into(),
                failure_description: String::new(),
            })
            .await
            .map(|_| ())
    }

    /// Plaid's own view of every bank transfer, through its `/bank_transfer/list` (all pages).
    pub async fn bank_transfers_at_plaid(&self) -> Vec<serde_json::Value> {
        let http = reqwest::Client::new();
        let all = plaid_bank_transfer_pages(|offset| {
            let request = http
                .post(format!("{}/bank_transfer/list", self.plaid_url))
                .json(&serde_json::json!({
                    "client_id": "sandbox-client-id",
                    "secret": "sandbox-secret",
                    "count": 25,
                    "offset": offset,
                }));
            async move {
                let page = request
                    .send()
                    .await
                    .expect("the emulator answers")
                    .json()
                    .await
                    .expect("JSON");
                Ok::<_, std::convert::Infallible>(page)
            }
        });
        all.await.unwrap_or_else(|never| match never {})
    }

    /// The account's links, oldest first (one page of 100).
    pub async fn list_links(&self, account_id: &str) -> Vec<v1::BankLink> {
        self.client
            .bank_links()
            .list_bank_links(v1::ListBankLinksRequest {
                account_id: account_id.into(),
                page_size: 100,
                page_token: String::new(),
            })
            .await
            .expect("ListBankLinks")
            .into_inner()
            .bank_links
    }

    /// Polls the link until it has `status` (bounded; fails with the last status seen).
    pub async fn wait_for_link_status(&self, id: &str, status: v1::BankLinkStatus) -> v1::BankLink {
        poll_until("link", id, status, v1::BankLink::status, || {
            self.get_link(id)
        })
        .await
    }

    /// Every call the emulator received, but the followers' own reading (Alpaca's event stream,
    /// Plaid's event sync).
    pub fn requests(&self) -> Vec<funding_sandbox::RecordedCall> {
        self.sandbox
            .calls()
            .into_iter()
            // The followers' own reading: Alpaca's event stream and Plaid's periodic event sync.
            .filter(|call| {
                !call.path.starts_with("/v2/events/") && call.path != "/bank_transfer/event/sync"
            })
            .collect()
    }

    /// The emulator's record of `method path-prefix` calls.
    pub fn provider_calls(&self, method: &str, path_prefix: &str) -> usize {
        self.sandbox
            .calls()
            .iter()
            .filter(|c| c.method == method && c.path.starts_with(path_prefix))
            .count()
    }
}

/// Every bank transfer of Plaid's `/bank_transfer/list`, page after page of 25 until a short one:
/// `ask(offset)` answers the body of the page at `offset`.
pub async fn plaid_bank_transfer_pages<E, F, Fut>(mut ask: F) -> Result<Vec<serde_json::Value>, E>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<serde_json::Value, E>>,
{
    let mut all = Vec::new();
    loop {
        let page = ask(all.len()).await?;
        let transfers = page["bank_transfers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let full = transfers.len() == 25;
        all.extend(transfers);
        if !full {
            return Ok(all);
        }
    }
}

/// A read asked again while it answers UNAVAILABLE (the database busy under the whole suite's
/// load), a few times, as a caller following RetryInfo would; any other error fails the test.
async fn patiently<T, F, Fut>(what: &str, mut call: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    let mut last = None;
    for _ in 0..5 {
        match call().await {
            Ok(answer) => return answer,
            Err(status) if status.code() == tonic::Code::Unavailable => {
                eprintln!("{what} answered UNAVAILABLE, asking again: {status:?}");
                last = Some(status);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(status) => panic!("{what}: {status:?}"),
        }
    }
    panic!("{what} kept answering UNAVAILABLE: {last:?}");
}

/// Reads the resource every 50 ms until its status is `status` (300 reads at most); fails with the
/// last one seen.
async fn poll_until<T, S, Fut>(
    what: &str,
    id: &str,
    status: S,
    status_of: impl Fn(&T) -> S,
    mut read: impl FnMut() -> Fut,
) -> T
where
    T: std::fmt::Debug,
    S: std::fmt::Debug + PartialEq,
    Fut: Future<Output = T>,
{
    let mut last = None;
    for _ in 0..300 {
        let resource = read().await;
        if status_of(&resource) == status {
            return resource;
        }
        last = Some(resource);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} {id} never reached {status:?}; last seen {last:?}");
}

/// The relationships the emulator made for `account_id`, as its own event log shows them.
pub fn relationships_at_alpaca(
    sandbox: &SandboxControl,
    account_id: &str,
) -> std::collections::BTreeSet<String> {
    sandbox
        .funding_events()
        .into_iter()
        .filter(|event| {
            event["entity_type"] == "BankRelationship" && event["account_id"] == account_id
        })
        .filter_map(|event| event["entity_id"].as_str().map(str::to_owned))
        .collect()
}
