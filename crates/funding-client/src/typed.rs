//! [`FundingClient`]: one channel to the service with a bearer token, and each call stamped with an
//! `x-request-id` (a fresh UUID unless the caller sets one), so that a call can be found in the
//! service's logs.

use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

use crate::v1::bank_link_service_client::BankLinkServiceClient;
use crate::v1::bank_transfer_service_client::BankTransferServiceClient;
use crate::v1::risk_service_client::RiskServiceClient;
use crate::v1::sandbox_service_client::SandboxServiceClient;
use crate::v1::transfer_service_client::TransferServiceClient;

/// Why a client could not be built.
#[derive(Debug)]
pub enum ClientError {
    /// The address is not a valid URI.
    InvalidAddress(String),
    /// The token holds characters a header cannot carry.
    InvalidToken,
    /// The connection failed.
    Transport(tonic::transport::Error),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidAddress(address) => write!(f, "invalid address {address:?}"),
            Self::InvalidToken => f.write_str("the bearer token is not a valid header value"),
            Self::Transport(error) => write!(f, "cannot connect: {error}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// Adds `authorization: Bearer …` and `x-request-id` to every request.
#[derive(Clone)]
pub struct RequestMetadata {
    authorization: Option<AsciiMetadataValue>,
}

impl std::fmt::Debug for RequestMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestMetadata")
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

impl Interceptor for RequestMetadata {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.authorization {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        if !request.metadata().contains_key("x-request-id") {
            let id = uuid::Uuid::new_v4().to_string();
            if let Ok(value) = MetadataValue::try_from(id.as_str()) {
                request.metadata_mut().insert("x-request-id", value);
            }
        }
        Ok(request)
    }
}

type Intercepted = InterceptedService<Channel, RequestMetadata>;

fn endpoint(address: String) -> Result<Endpoint, ClientError> {
    Endpoint::from_shared(address.clone()).map_err(|_| ClientError::InvalidAddress(address))
}

/// A connected client for every service of `funding.v1`.
#[derive(Debug, Clone)]
pub struct FundingClient {
    channel: Channel,
    metadata: RequestMetadata,
}

impl FundingClient {
    /// Connects to `address` (e.g. `http://127.0.0.1:50051`), sending `bearer_token` if given.
    pub async fn connect(
        address: impl Into<String>,
        bearer_token: Option<&str>,
    ) -> Result<Self, ClientError> {
        let endpoint = endpoint(address.into())?;
        let channel = endpoint.connect().await.map_err(ClientError::Transport)?;
        Self::from_channel(channel, bearer_token)
    }

    /// Connects over TLS to `address` (`https://host:port`), sending `bearer_token` if given.
    /// `tls` names the CA that signed the server's certificate and, for a server that asks for
    /// client certificates, this client's identity:
    /// `ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)).identity(Identity::from_pem(cert, key))`.
    #[cfg(feature = "tls")]
    pub async fn connect_tls(
        address: impl Into<String>,
        bearer_token: Option<&str>,
        tls: tonic::transport::ClientTlsConfig,
    ) -> Result<Self, ClientError> {
        let endpoint = endpoint(address.into())?
            .tls_config(tls)
            .map_err(ClientError::Transport)?;
        let channel = endpoint.connect().await.map_err(ClientError::Transport)?;
        Self::from_channel(channel, bearer_token)
    }

    /// Wraps an existing channel.
    pub fn from_channel(channel: Channel, bearer_token: Option<&str>) -> Result<Self, ClientError> {
        let authorization = bearer_token
            .map(|token| {
                AsciiMetadataValue::try_from(format!("Bearer {token}"))
                    .map_err(|_| ClientError::InvalidToken)
            })
            .transpose()?;
        Ok(Self {
            channel,
            metadata: RequestMetadata { authorization },
        })
    }

    pub fn bank_links(&self) -> BankLinkServiceClient<Intercepted> {
        BankLinkServiceClient::with_interceptor(self.channel.clone(), self.metadata.clone())
    }

    pub fn transfers(&self) -> TransferServiceClient<Intercepted> {
        TransferServiceClient::with_interceptor(self.channel.clone(), self.metadata.clone())
    }

    pub fn bank_transfers(&self) -> BankTransferServiceClient<Intercepted> {
        BankTransferServiceClient::with_interceptor(self.channel.clone(), self.metadata.clone())
    }

    pub fn risk(&self) -> RiskServiceClient<Intercepted> {
        RiskServiceClient::with_interceptor(self.channel.clone(), self.metadata.clone())
    }

    pub fn sandbox(&self) -> SandboxServiceClient<Intercepted> {
        SandboxServiceClient::with_interceptor(self.channel.clone(), self.metadata.clone())
    }

    /// The underlying channel, e.g. for health or reflection clients.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }
}
