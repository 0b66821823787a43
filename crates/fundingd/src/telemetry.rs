//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default `info`), pretty or JSON. Installed
//! once by `main`; tests install their own subscriber or none.
//!
//! Traces: with `otlp_endpoint` (`--otlp-endpoint`, `FUNDING_OTLP_ENDPOINT`) the same spans — the
//! `grpc` span of each call (`method`, `request_id`) and the use cases' spans nested under it
//! (`transfer_id`, `bank_link_id`, `bank_transfer_id`, `account_id`, …) — are also exported as
//! OpenTelemetry traces over OTLP/gRPC, in batches, with `service.name` = `fundingd`; see
//! [`init_otlp`]. The [`OtlpGuard`] it returns flushes what is left at shutdown.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::{Layered, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// The `service.name` of the exported traces.
pub const SERVICE_NAME: &str = "fundingd";

/// Installs the global subscriber. A second call does nothing.
pub fn init(format: &str) {
    let filter = env_filter();
    // Colours only for a person at a terminal, and never when NO_COLOR is set.
    let ansi = ansi();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// What `main` installs: the log lines of [`init`] and, with `otlp_endpoint`, the OTLP export of
/// [`init_otlp`] (whose guard is then returned). Must run inside a Tokio runtime.
pub fn init_with(format: &str, otlp_endpoint: Option<&str>) -> anyhow::Result<Option<OtlpGuard>> {
    match otlp_endpoint {
        None => {
            init(format);
            Ok(None)
        }
        Some(endpoint) => init_otlp(endpoint, Some(format)).map(Some),
    }
}

/// Installs the global subscriber with a layer exporting every span (filtered by `RUST_LOG`, default
/// `info`) as an OpenTelemetry trace over OTLP/gRPC to `endpoint` (`http://host:4317`), batched,
/// with `service.name` = `fundingd`; with `log_format` (`pretty` or `json`) log lines go to stderr
/// too, as with [`init`]. Keep the guard, and [`OtlpGuard::shutdown`] it at the end to flush.
///
/// Must run inside a Tokio runtime (the gRPC channel lives on it; the first connection is made on
/// the first export, so an endpoint that is down only costs the spans). Fails when the endpoint is
/// not a URL or a global subscriber is already installed (one per process: a test binary of its
/// own).
pub fn init_otlp(endpoint: &str, log_format: Option<&str>) -> anyhow::Result<OtlpGuard> {
    use anyhow::Context as _;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .with_context(|| format!("cannot export traces to otlp_endpoint {endpoint}"))?;
    let provider = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(SERVICE_NAME).build())
        .with_batch_exporter(exporter)
        .build();
    let tracer = provider.tracer(SERVICE_NAME);
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(tracing_subscriber::filter::filter_fn(|metadata| {
            !is_exporter_internal(metadata.target())
        }))
        .boxed();
    let mut layers: Vec<Box<dyn Layer<Filtered> + Send + Sync>> = vec![otel];
    if let Some(format) = log_format {
        let fmt = tracing_subscriber::fmt::layer()
            .with_ansi(ansi())
            .with_writer(std::io::stderr);
        layers.push(if format == "json" {
            fmt.json().boxed()
        } else {
            fmt.boxed()
        });
    }
    let installed = tracing_subscriber::registry()
        .with(env_filter())
        .with(layers)
        .try_init();
    if let Err(error) = installed {
        let _ = provider.shutdown();
        return Err(anyhow::anyhow!(
            "cannot install the OTLP trace layer: {error}"
        ));
    }
    Ok(OtlpGuard {
        provider: Some(provider),
    })
}

/// The exporting tracer provider of [`init_otlp`]: [`shutdown`](Self::shutdown) exports the spans
/// still in the batch and stops. Dropped without it, it shuts down on the dropping thread (which
/// blocks until the last batch is sent: prefer `shutdown().await` inside a runtime).
pub struct OtlpGuard {
    provider: Option<SdkTracerProvider>,
}

impl OtlpGuard {
    /// Exports what is left and stops the exporter (bounded by the exporter's timeout). Off the
    /// runtime's threads, so that the export can use them, on any runtime flavour.
    pub async fn shutdown(mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = tokio::task::spawn_blocking(move || {
                if let Err(error) = provider.shutdown() {
                    eprintln!("fundingd: flushing the OTLP traces failed: {error}");
                }
            })
            .await;
        }
    }

    /// Exports the spans ended so far, without stopping.
    pub async fn flush(&self) {
        if let Some(provider) = self.provider.clone() {
            let _ = tokio::task::spawn_blocking(move || provider.force_flush()).await;
        }
    }
}

impl Drop for OtlpGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

impl std::fmt::Debug for OtlpGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpGuard").finish_non_exhaustive()
    }
}

/// The subscriber the layers sit on: the registry under the `RUST_LOG` filter.
type Filtered = Layered<EnvFilter, Registry>;

fn env_filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

fn ansi() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none()
}

/// Spans and events of the exporter's own gRPC stack and of OpenTelemetry itself: not exported
/// (exporting them would make spans of its own, without end at `RUST_LOG=trace`).
fn is_exporter_internal(target: &str) -> bool {
    const CRATES: &[&str] = &[
        "opentelemetry",
        "opentelemetry_sdk",
        "opentelemetry_otlp",
        "h2",
        "hyper",
        "hyper_util",
        "tonic",
        "tower",
    ];
    let krate = target.split("::").next().unwrap_or(target);
    CRATES.contains(&krate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exporters_own_stack_is_not_exported() {
        for target in [
            "h2::proto",
            "hyper_util::client",
            "tonic::transport",
            "tower::buffer",
            "opentelemetry_sdk",
        ] {
            assert!(is_exporter_internal(target), "{target}");
        }
        for target in [
            "fundingd",
            "funding_core::transfers::create",
            "funding_store",
            "tower_http::trace",
        ] {
            assert!(!is_exporter_internal(target), "{target}");
        }
    }
}
