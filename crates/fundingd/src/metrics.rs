//! Prometheus metrics on `--metrics-listen ADDR`, at `/metrics`. The recorder is installed once per
//! process (the `metrics` facade allows one); every `Application` with a metrics address serves it.

use std::sync::OnceLock;

use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The process's Prometheus recorder, installed on first use.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics will be empty");
            }
            handle
        })
        .clone()
}

/// Serves `/metrics` on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, handle: PrometheusHandle, shutdown: CancellationToken) {
    let app = Router::new().route("/metrics", get(move || std::future::ready(handle.render())));
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
    {
        tracing::warn!("the metrics endpoint stopped: {error}");
    }
}

/// How often the work queue's gauges are refreshed.
const ENGINE_GAUGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Keeps the engine's gauges current until `shutdown`: pending and failed work by kind
/// (`funding_work_items{kind, state}`) and the age of the oldest pending work
/// (`funding_work_oldest_pending_seconds`), so that work that waits is never silent.
pub async fn watch_engine(
    queue: std::sync::Arc<dyn funding_core::ports::WorkQueue>,
    shutdown: CancellationToken,
) {
    use funding_core::ports::WorkKind;
    loop {
        if let Ok(stats) = queue.stats().await {
            for kind in WorkKind::ALL {
                for (state, counts) in [("pending", &stats.pending), ("failed", &stats.failed)] {
                    let count = counts
                        .iter()
                        .find(|(k, _)| *k == kind)
                        .map_or(0, |(_, n)| *n);
                    metrics::gauge!("funding_work_items", "kind" => kind.as_str(), "state" => state)
                        .set(count as f64);
                }
            }
            metrics::gauge!("funding_work_oldest_pending_seconds").set(
                stats
                    .oldest_pending_age
                    .map_or(0.0, |age| age.as_secs_f64()),
            );
        }
        funding_core::observe::refresh_stream_gauges();
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(ENGINE_GAUGE_INTERVAL) => {}
        }
    }
}

/// The 60-day ACH return rates of a rail (DESIGN §12), for docs/alerts/returns.rules.yml:
/// `funding_return_rate_basis_points{rail, category}` (unauthorized, administrative, overall) and
/// their denominator `funding_return_debits_60_days{rail}`.
pub fn return_rates(rail: &'static str, rates: &funding_domain::returns::rates::ReturnRates) {
    for (category, basis_points) in [
        ("unauthorized", rates.unauthorized_bp()),
        ("administrative", rates.administrative_bp()),
        ("overall", rates.overall_bp()),
    ] {
        metrics::gauge!("funding_return_rate_basis_points", "rail" => rail, "category" => category)
            .set(f64::from(basis_points));
    }
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    metrics::gauge!("funding_return_debits_60_days", "rail" => rail).set(rates.debits as f64);
}
