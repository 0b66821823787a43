//! Calls by method name with the message as raw bytes (tonic's generic client and a pass-through
//! codec), and the list of every RPC `funding.v1` declares, read from the descriptor set the
//! server's reflection serves. Suites that must cover every RPC use these, so they do not depend
//! on the generated client methods.

use bytes::{Buf as _, BufMut as _};
use prost_reflect::{DescriptorPool, MessageDescriptor};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;
use tonic::{Code, Status};

/// Messages as bytes, passed through unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(buf.copy_to_bytes(buf.remaining()).to_vec()))
    }
}

/// One RPC of the proto.
#[derive(Debug, Clone)]
pub struct Rpc {
    /// `/funding.v1.BankLinkService/CreateBankLink`
    pub path: String,
    pub server_streaming: bool,
    pub input: MessageDescriptor,
}

/// The descriptors of `funding.v1`, as compiled into funding-client (what reflection serves).
pub fn pool() -> DescriptorPool {
    DescriptorPool::decode(funding_client::FILE_DESCRIPTOR_SET).expect("the descriptor set")
}

/// Every RPC of every service of `funding.v1`.
pub fn rpcs() -> Vec<Rpc> {
    let pool = pool();
    let mut rpcs: Vec<Rpc> = pool
        .services()
        .filter(|service| service.package_name() == "funding.v1")
        .flat_map(|service| {
            service
                .methods()
                .map(|method| Rpc {
                    path: format!("/{}/{}", service.full_name(), method.name()),
                    server_streaming: method.is_server_streaming(),
                    input: method.input(),
                })
                .collect::<Vec<_>>()
        })
        .collect();
    rpcs.sort_by(|a, b| a.path.cmp(&b.path));
    rpcs
}

/// How a raw call ended: OK (for a stream: its first message, or an open stream that sent nothing
/// yet), or the status.
pub type Outcome = Result<(), Status>;

/// Sends `body` as the request message of `rpc`, with `authorization: Bearer <token>` if given.
/// A server stream is given a moment to send its first message or error, then dropped.
pub async fn call(channel: Channel, rpc: &Rpc, token: Option<&str>, body: Vec<u8>) -> Outcome {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|error| Status::new(Code::Unavailable, format!("not ready: {error}")))?;
    let mut request = tonic::Request::new(body);
    if let Some(token) = token {
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("an ASCII token"),
        );
    }
    let path: tonic::codegen::http::uri::PathAndQuery = rpc.path.parse().expect("a method path");
    if rpc.server_streaming {
        let mut stream = grpc
            .server_streaming(request, path, RawCodec)
            .await?
            .into_inner();
        // An open stream waits for changes; a refusal or a failure comes at once.
        match tokio::time::timeout(std::time::Duration::from_millis(200), stream.message()).await {
            Ok(Err(status)) => Err(status),
            Ok(Ok(_)) | Err(_) => Ok(()),
        }
    } else {
        grpc.unary(request, path, RawCodec).await.map(|_| ())
    }
}
