//! The funding service's server: settings, telemetry, wiring ([`Application`]), health, background
//! workers and shutdown. `main` is a thin shell over this library, and the end-to-end tests start the
//! service through the same [`Application`].

mod check;
pub mod cli;
pub mod events_out;
pub mod health;
pub mod metrics;
mod safety;
mod sandbox_provider;
pub mod settings;
mod startup;
pub mod telemetry;
mod tls;
pub mod webhooks;

pub use check::check;
pub use settings::Settings;
pub use startup::Application;

/// Re-encrypts every sealed value of the database under the key in `new_key_file`
/// (`fundingd rotate-key`), `batch_size` rows per transaction, printing a line per batch. The
/// configured keys (current and old) open what is there. Resumable: values already under the new
/// key are skipped.
/// `fundingd audit verify`: reads the whole audit trail in order and checks its hash chain
/// (`funding_domain::audit::verify_chain`); the number of events verified, or an error naming the
/// first event that is not what was written.
pub async fn verify_audit(settings: &Settings) -> anyhow::Result<u64> {
    use funding_core::ports::{AuditFilter, RiskStore as _};
    let validated = startup::validate(settings)?;
    let cipher = validated.key.settle()?;
    let store = startup::connect(settings, cipher).await?;
    let mut events = Vec::new();
    let mut after = None;
    let read = loop {
        match store
            .list_audit_events(AuditFilter::default(), 1_000, after)
            .await
        {
            Ok((page, next)) => {
                events.extend(page);
                match next {
                    Some(seq) => after = Some(seq),
                    None => break Ok(()),
                }
            }
            Err(error) => break Err(error),
        }
    };
    let _ = store.close().await;
    read.map_err(|error| anyhow::anyhow!("reading the audit trail: {error}"))?;
    let verified = funding_domain::audit::verify_chain(
        events
            .iter()
            .map(|event| (event.chain_fields(), event.hash.as_str())),
    )
    .map_err(|broken| anyhow::anyhow!("the audit trail is broken: {broken}"))?;
    Ok(verified)
}

pub async fn rotate_key(
    settings: &Settings,
    new_key_file: &std::path::Path,
    batch_size: usize,
) -> anyhow::Result<funding_store::RotationReport> {
    use anyhow::Context;
    let validated = startup::validate(settings)?;
    let cipher = validated.key.settle()?;
    let new = funding_store::Cipher::load_private(new_key_file)
        .with_context(|| format!("cannot use the new key file {}", new_key_file.display()))?;
    let store = startup::connect(settings, cipher.clone()).await?;
    let old_keys = match cipher.old_key_ids() {
        ids if ids.is_empty() => "none".to_owned(),
        ids => ids.join(", "),
    };
    println!(
        "rotating every sealed value of {} to key {} (configured: key {}, old keys: {old_keys})",
        settings.redacted_database_url(),
        new.key_id(),
        cipher.key_id(),
    );
    let result = store
        .rotate_key(&new, batch_size, |step| {
            println!(
                "batch {}: {} rows of {}: {} re-encrypted, {} already under key {}, {} changed meanwhile",
                step.batch,
                step.rows,
                step.table,
                step.rotated,
                step.already_current,
                new.key_id(),
                step.changed_meanwhile
            );
            std::ops::ControlFlow::Continue(())
        })
        .await;
    let _ = store.close().await;
    let report = result.context("the rotation stopped (run it again to resume)")?;
    if report.changed_meanwhile > 0 {
        println!(
            "{} values were changed by a running replica meanwhile: run rotate-key again once key {} is current",
            report.changed_meanwhile,
            new.key_id()
        );
    }
    println!(
        "rotation complete: {} values re-encrypted, {} already under key {}; now make that key encryption_key and move the old one to old_encryption_keys, then drop it",
        report.rotated,
        report.already_current,
        new.key_id()
    );
    Ok(report)
}

/// Runs the migrations alone (`fundingd migrate`).
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    use anyhow::Context;
    let cipher = funding_store::Cipher::generate();
    let store = funding_store::Store::connect(&settings.database_url, cipher)
        .await
        .context("cannot open the database")?;
    store
        .migrate()
        .await
        .context("cannot migrate the database")?;
    let _ = store.close().await;
    Ok(())
}
