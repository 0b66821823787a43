//! The business metrics the use cases record: ACH entries originated and returns by NACHA
//! return-rate category, per rail, so that alerts can follow the rates NACHA enforces
//! (`funding_ach_returns_total{category="unauthorized"}` over `funding_ach_entries_total` below
//! 0.5 %, administrative below 3 %, all returns below 15 %).

use funding_domain::AchReturnCode;

/// An ACH entry the provider accepted (`rail`: `alpaca` or `plaid`; `direction`: as the rail
/// names it).
pub(crate) fn entry_originated(rail: &'static str, direction: &str) {
    metrics::counter!("funding_ach_entries_total", "rail" => rail, "direction" => direction.to_owned())
        .increment(1);
}

/// A return of an entry, with its code when the provider gave one.
pub(crate) fn entry_returned(rail: &'static str, code: Option<&AchReturnCode>) {
    let category = code.map_or("unknown", |code| code.category().as_str());
    metrics::counter!("funding_ach_returns_total", "rail" => rail, "category" => category)
        .increment(1);
    metrics::counter!("funding_ach_returns_total", "rail" => rail, "category" => "all")
        .increment(1);
}

/// When each stream's cursor last moved, in this process.
static CURSOR_MOVED: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<&'static str, std::time::Instant>>,
> = std::sync::LazyLock::new(Default::default);

/// A stream's cursor moved past an event that happened at `last_event_at`: its lag (how far
/// behind the provider the stored events are) is now that long ago.
pub(crate) fn stream_advanced(
    stream: &'static str,
    now: chrono::DateTime<chrono::Utc>,
    last_event_at: Option<chrono::DateTime<chrono::Utc>>,
) {
    if let Some(at) = last_event_at {
        let lag = (now - at).num_milliseconds().max(0) as f64 / 1000.0;
        metrics::gauge!("funding_stream_lag_seconds", "stream" => stream).set(lag);
    }
    if let Ok(mut moved) = CURSOR_MOVED.lock() {
        moved.insert(stream, std::time::Instant::now());
    }
    metrics::gauge!("funding_stream_cursor_age_seconds", "stream" => stream).set(0.0);
}

/// Sets `funding_stream_cursor_age_seconds` for every stream this process has read: how long ago
/// its cursor last moved. Called periodically by the server's metrics watcher.
pub fn refresh_stream_gauges() {
    if let Ok(moved) = CURSOR_MOVED.lock() {
        for (stream, at) in moved.iter() {
            metrics::gauge!("funding_stream_cursor_age_seconds", "stream" => *stream)
                .set(at.elapsed().as_secs_f64());
        }
    }
}
