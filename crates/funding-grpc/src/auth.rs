//! Bearer-token authentication with scopes. Each calling service has a token; the service keeps only
//! its SHA-256 and compares in constant time. The interceptor puts the [`Caller`] into the request's
//! extensions; each RPC then asks for the scope it needs. Open mode (sandbox on loopback) lets every
//! call through as the caller `anonymous` with every scope. Once a caller is known, its rate limits
//! ([`RateLimits`]) are spent: one call in the interceptor, one write in [`require`] for every scope
//! but `read`.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::service::Interceptor;
use tonic::{Request, Status};

use crate::limits::RateLimits;

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Create and delete bank links.
    LinksWrite,
    /// Create and cancel Alpaca transfers.
    TransfersWrite,
    /// Create and cancel Plaid bank transfers.
    BankTransfersWrite,
    /// Read everything.
    Read,
    /// Use SandboxService.
    Sandbox,
    /// Read RiskService: accounts' funding, reviews, the audit trail.
    RiskRead,
    /// Change accounts' limits and freeze or unfreeze their funding.
    RiskWrite,
    /// Approve or reject transfers held for review.
    Review,
}

impl Scope {
    pub const ALL: [Scope; 8] = [
        Self::LinksWrite,
        Self::TransfersWrite,
        Self::BankTransfersWrite,
        Self::Read,
        Self::Sandbox,
        Self::RiskRead,
        Self::RiskWrite,
        Self::Review,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::LinksWrite => "links:write",
            Self::TransfersWrite => "transfers:write",
            Self::BankTransfersWrite => "bank_transfers:write",
            Self::Read => "read",
            Self::Sandbox => "sandbox",
            Self::RiskRead => "risk:read",
            Self::RiskWrite => "risk:write",
            Self::Review => "review",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == text)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A calling service's credential, as configured: its name, the SHA-256 of its token, its scopes.
#[derive(Clone)]
pub struct ClientKey {
    pub name: String,
    pub token_sha256: [u8; 32],
    pub scopes: BTreeSet<Scope>,
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientKey")
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl ClientKey {
    /// A key from the hex SHA-256 of the token (what configuration holds).
    pub fn from_hex_hash(
        name: &str,
        hash_hex: &str,
        scopes: BTreeSet<Scope>,
    ) -> Result<Self, String> {
        let bytes = hex::decode(hash_hex.trim())
            .map_err(|_| format!("client {name}: token_sha256 is not hex"))?;
        let token_sha256: [u8; 32] = bytes
            .try_into()
            .map_err(|_| format!("client {name}: token_sha256 must be 32 bytes (64 hex digits)"))?;
        Ok(Self {
            name: name.to_owned(),
            token_sha256,
            scopes,
        })
    }

    /// The hex SHA-256 of a token, to put in configuration.
    pub fn hash_token(token: &str) -> String {
        hex::encode(Sha256::digest(token.as_bytes()))
    }
}

/// Who is calling, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub scopes: BTreeSet<Scope>,
}

/// How calls are authenticated.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Everyone is `anonymous` with every scope. Only for sandbox mode on loopback, or when told.
    Open,
    Tokens(Arc<Vec<ClientKey>>),
}

impl Auth {
    fn authenticate(&self, header: Option<&str>) -> Result<Caller, Status> {
        let keys = match self {
            Self::Open => {
                return Ok(Caller {
                    name: "anonymous".into(),
                    scopes: Scope::ALL.into_iter().collect(),
                });
            }
            Self::Tokens(keys) => keys,
        };
        let token = header
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
            })
            .ok_or_else(|| {
                Status::unauthenticated("missing bearer token (authorization: Bearer <token>)")
            })?;
        let presented = Sha256::digest(token.trim().as_bytes());
        let mut found: Option<&ClientKey> = None;
        for key in keys.iter() {
            let equal: bool = key.token_sha256.ct_eq(presented.as_slice()).into();
            if equal {
                found = Some(key);
            }
        }
        found
            .map(|key| Caller {
                name: key.name.clone(),
                scopes: key.scopes.clone(),
            })
            .ok_or_else(|| Status::unauthenticated("unknown bearer token"))
    }
}

/// The interceptor that authenticates every call and spends one call of the caller's budget.
#[derive(Debug, Clone)]
pub struct AuthInterceptor {
    auth: Auth,
    limits: RateLimits,
}

impl AuthInterceptor {
    pub fn new(auth: Auth, limits: RateLimits) -> Self {
        Self { auth, limits }
    }
}

impl Interceptor for AuthInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .and_then(|value| value.to_str().ok());
        let caller = self.auth.authenticate(header)?;
        self.limits.check_call(&caller.name)?;
        request.extensions_mut().insert(caller);
        request.extensions_mut().insert(self.limits.clone());
        Ok(request)
    }
}

/// The caller of a request, if it holds `scope` (PERMISSION_DENIED otherwise) and, for every scope
/// but the reads `read` and `risk:read` (the calls that may reach a provider or change something),
/// has a write left in its budget
/// (RESOURCE_EXHAUSTED with `RetryInfo` otherwise). Each RPC calls it before doing anything else.
pub fn require<T>(request: &Request<T>, scope: Scope) -> Result<Caller, Status> {
    let caller = request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("the call was not authenticated"))?;
    if !caller.scopes.contains(&scope) {
        return Err(Status::permission_denied(format!(
            "caller {} lacks the scope {scope}",
            caller.name
        )));
    }
    if !matches!(scope, Scope::Read | Scope::RiskRead)
        && let Some(limits) = request.extensions().get::<RateLimits>()
    {
        limits.check_write(&caller.name)?;
    }
    Ok(caller)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        let key = ClientKey::from_hex_hash(
            "app",
            &ClientKey::hash_token("s3cret"),
            [Scope::Read].into(),
        )
        .unwrap();
        Auth::Tokens(Arc::new(vec![key]))
    }

    #[test]
    fn a_known_token_authenticates_with_its_scopes() {
        let caller = auth().authenticate(Some("Bearer s3cret")).unwrap();
        assert_eq!(caller.name, "app");
        assert!(caller.scopes.contains(&Scope::Read));
        assert!(!caller.scopes.contains(&Scope::LinksWrite));
    }

    #[test]
    fn unknown_or_missing_tokens_are_refused_without_echoing_them() {
        for header in [
            None,
            Some("Bearer nope"),
            Some("s3cret"),
            Some("Basic s3cret"),
        ] {
            let status = auth().authenticate(header).unwrap_err();
            assert_eq!(status.code(), tonic::Code::Unauthenticated);
            assert!(!status.message().contains("nope"));
        }
    }

    #[test]
    fn a_missing_scope_is_permission_denied() {
        let mut request = Request::new(());
        request.extensions_mut().insert(Caller {
            name: "app".into(),
            scopes: [Scope::Read].into(),
        });
        assert_eq!(
            require(&request, Scope::LinksWrite).unwrap_err().code(),
            tonic::Code::PermissionDenied
        );
        assert!(require(&request, Scope::Read).is_ok());
    }

    #[test]
    fn the_interceptor_spends_calls_and_require_spends_writes_of_the_callers_budget() {
        use std::num::NonZeroU32;
        let one_then_none = crate::limits::Rate {
            per_minute: NonZeroU32::MIN,
            burst: NonZeroU32::MIN,
        };
        let key = ClientKey::from_hex_hash(
            "app",
            &ClientKey::hash_token("s3cret"),
            [Scope::Read, Scope::LinksWrite].into(),
        )
        .unwrap();
        let mut interceptor = AuthInterceptor::new(
            Auth::Tokens(Arc::new(vec![key])),
            RateLimits::new(None, Some(one_then_none)),
        );
        let authenticated = |interceptor: &mut AuthInterceptor| {
            let mut request = Request::new(());
            request
                .metadata_mut()
                .insert("authorization", "Bearer s3cret".parse().unwrap());
            interceptor.call(request).unwrap()
        };
        let request = authenticated(&mut interceptor);
        assert!(require(&request, Scope::LinksWrite).is_ok());
        let request = authenticated(&mut interceptor);
        assert!(
            require(&request, Scope::Read).is_ok(),
            "reads spend no write"
        );
        let status = require(&request, Scope::LinksWrite).unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);

        let mut interceptor =
            AuthInterceptor::new(Auth::Open, RateLimits::new(Some(one_then_none), None));
        interceptor.call(Request::new(())).unwrap();
        let status = interceptor.call(Request::new(())).unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    }

    #[test]
    fn scopes_parse_from_their_names() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(Scope::parse("admin"), None);
    }
}
