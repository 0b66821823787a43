//! The deployment a database belongs to (DESIGN §10): sandbox mode, or real providers at given hosts.
//! The first start records its mode in the one-row `deployment` table (insert-if-absent, so replicas
//! starting together agree on one row); every later start compares its mode with the row and is
//! refused on a mismatch, so that sandbox data never meets real money and a real database is never
//! driven by the emulator or against other provider hosts. A refusal writes nothing.

use std::fmt;

use funding_core::ports::StoreError;
use sea_orm::ConnectionTrait as _;
use sea_orm::DeriveIden;
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict, Query};

use crate::Store;
use crate::convert::db_time;
use crate::error::from_db;

/// The key of the table's only row.
const ROW_ID: i32 = 1;

#[derive(DeriveIden)]
enum Deployment {
    Table,
    Id,
    Mode,
    ProviderHosts,
    CreatedAt,
}

/// The mode a service starts in, as a database remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeploymentMode {
    /// The in-process emulator of Plaid and Alpaca.
    Sandbox,
    /// Real providers at these hosts.
    Providers(ProviderHosts),
}

/// The hosts (with their port when one is given) of the Plaid and Alpaca base URLs; never
/// credentials, paths or schemes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderHosts {
    plaid: String,
    alpaca: String,
}

impl ProviderHosts {
    /// The hosts, compared without regard to case.
    pub fn new(plaid: &str, alpaca: &str) -> ProviderHosts {
        ProviderHosts {
            plaid: plaid.to_ascii_lowercase(),
            alpaca: alpaca.to_ascii_lowercase(),
        }
    }

    /// As stored in `deployment.provider_hosts`.
    fn stored(&self) -> String {
        format!("plaid={}, alpaca={}", self.plaid, self.alpaca)
    }
}

impl DeploymentMode {
    fn as_str(&self) -> &'static str {
        match self {
            DeploymentMode::Sandbox => "sandbox",
            DeploymentMode::Providers(_) => "providers",
        }
    }

    fn provider_hosts(&self) -> Option<String> {
        match self {
            DeploymentMode::Sandbox => None,
            DeploymentMode::Providers(hosts) => Some(hosts.stored()),
        }
    }
}

impl fmt::Display for DeploymentMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&describe(self.as_str(), self.provider_hosts().as_deref()))
    }
}

/// `sandbox mode` or `providers mode (plaid=…, alpaca=…)`.
fn describe(mode: &str, hosts: Option<&str>) -> String {
    match hosts {
        Some(hosts) => format!("{mode} mode ({hosts})"),
        None => format!("{mode} mode"),
    }
}

/// Why [`Store::check_deployment`] refused.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    /// The database was created in another mode (or for other provider hosts).
    #[error(
        "refusing to start in {requested} on a database created in {recorded}: a database keeps the mode it was created in, so give this mode a database of its own"
    )]
    Mismatch { recorded: String, requested: String },
    /// The database could not be read or written.
    #[error("cannot check the database's deployment mode: {0}")]
    Store(#[from] StoreError),
}

impl Store {
    /// Records `mode` as this database's deployment if none is recorded yet, and refuses with
    /// [`DeploymentError::Mismatch`] (naming both modes, writing nothing) when the recorded one
    /// differs. Safe for replicas starting together: the first insert wins and the others compare
    /// with it. Needs the migrations applied.
    #[tracing::instrument(skip_all, fields(mode = mode.as_str()))]
    pub async fn check_deployment(&self, mode: &DeploymentMode) -> Result<(), DeploymentError> {
        let insert = Query::insert()
            .into_table(Deployment::Table)
            .columns([
                Deployment::Id,
                Deployment::Mode,
                Deployment::ProviderHosts,
                Deployment::CreatedAt,
            ])
            .values([
                Expr::value(ROW_ID),
                Expr::value(mode.as_str()),
                Expr::value(mode.provider_hosts()),
                Expr::value(db_time(self.clock.now())),
            ])
            .map_err(|error| StoreError::Other(error.to_string()))?
            .on_conflict(OnConflict::column(Deployment::Id).do_nothing().to_owned())
            .to_owned();
        let permit = self.write_permit().await;
        let inserted = self.db.execute(&insert).await.map_err(from_db)?;
        drop(permit);
        if inserted.rows_affected() == 1 {
            tracing::info!("this database is now recorded as a {mode} database");
        }
        let select = Query::select()
            .columns([Deployment::Mode, Deployment::ProviderHosts])
            .from(Deployment::Table)
            .and_where(Expr::col(Deployment::Id).eq(ROW_ID))
            .to_owned();
        let row = self
            .db
            .query_one(&select)
            .await
            .map_err(from_db)?
            .ok_or_else(|| StoreError::Corrupt("the deployment row is missing".to_owned()))?;
        let corrupt = |error: sea_orm::DbErr| StoreError::Corrupt(format!("deployment: {error}"));
        let recorded_mode: String = row.try_get("", "mode").map_err(corrupt)?;
        let recorded_hosts: Option<String> = row.try_get("", "provider_hosts").map_err(corrupt)?;
        if recorded_mode == mode.as_str() && recorded_hosts == mode.provider_hosts() {
            return Ok(());
        }
        Err(DeploymentError::Mismatch {
            recorded: describe(&recorded_mode, recorded_hosts.as_deref()),
            requested: mode.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_describe_themselves_with_their_hosts() {
        assert_eq!(DeploymentMode::Sandbox.to_string(), "sandbox mode");
        let providers = DeploymentMode::Providers(ProviderHosts::new(
            "Production.Plaid.com",
            "broker-api.alpaca.markets",
        ));
        assert_eq!(
            providers.to_string(),
            "providers mode (plaid=production.plaid.com, alpaca=broker-api.alpaca.markets)"
        );
    }
}
