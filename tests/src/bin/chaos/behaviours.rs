//! The provider behaviours the emulator can show beyond its defaults (DESIGN §7, `docs/sandbox.md`),
//! each turned on for a run from the seed (or forced with `--behaviours`): late effects on Alpaca's
//! creates, an ACH fee, a gross `cash_withdrawable`, a small list page cap, COMPLETE → SETTLED,
//! dropped live events and Plaid's `PLANNED_MAINTENANCE` answers. The Alpaca settings are set once,
//! before the replicas start; the faults are injected during the chaos (`faults.rs`, and just before
//! some creates in `workload/links.rs` and `workload/transfers.rs`).

use funding_tests::process::Rng;
use serde_json::{Value, json};

/// Every behaviour's name, as `--behaviours` takes them.
pub const NAMES: &[&str] = &[
    "late_effect",
    "fee",
    "gross",
    "page_cap",
    "settled",
    "drop_events",
    "maintenance",
];

/// Late effects land at most this long after the answer: comfortably below fundingd's
/// `unknown_outcome_settle_ms` (`world::UNKNOWN_OUTCOME_SETTLE_MS`), so a lookup that concludes
/// "not there" can never come before the effect.
pub const LATE_EFFECT_MAX_DELAY_MS: u64 = 4_500;
pub const LATE_EFFECT_MIN_DELAY_MS: u64 = 300;
const _: () = assert!(LATE_EFFECT_MAX_DELAY_MS * 3 / 2 < crate::world::UNKNOWN_OUTCOME_SETTLE_MS);

/// The behaviours of one run and their parameters (drawn from the seed either way).
#[derive(Debug, Clone, Default)]
pub struct Behaviours {
    /// `late_effect` faults (504, 500 or no answer) on Alpaca's transfer and relationship creates.
    pub late_effect: bool,
    /// Alpaca's ACH fee, in cents.
    pub ach_fee_cents: Option<i64>,
    /// `cash_withdrawable: "gross"`.
    pub gross: bool,
    /// `list_page_cap`.
    pub list_page_cap: Option<u64>,
    /// `settled_after_complete_ms`.
    pub settled_after_complete_ms: Option<u64>,
    /// `{"drop": N}` on the live funding stream.
    pub drop_events: bool,
    /// Plaid's 503 `PLANNED_MAINTENANCE` on its endpoints, the public-token exchange included.
    pub maintenance: bool,
}

impl Behaviours {
    /// From `spec`: `seed` (each on two times in three), `all`, `none`, or a comma-separated list
    /// of [`NAMES`]. The parameters come from `rng` whatever the spec.
    pub fn choose(spec: &str, rng: &mut Rng) -> anyhow::Result<Self> {
        let drawn: Vec<bool> = NAMES.iter().map(|_| rng.chance(67)).collect();
        let fee = [25, 100, 200, 250][rng.index(4)];
        let cap = rng.between(1, 4);
        let settled = rng.between(300, 3_000);
        let on: Vec<bool> = match spec {
            "seed" => drawn,
            "all" => vec![true; NAMES.len()],
            "none" => vec![false; NAMES.len()],
            list => {
                let wanted: Vec<&str> = list.split(',').map(str::trim).collect();
                if let Some(unknown) = wanted.iter().find(|w| !NAMES.contains(w)) {
                    anyhow::bail!(
                        "--behaviours: unknown behaviour {unknown:?} (seed, all, none, or some of {})",
                        NAMES.join(",")
                    );
                }
                NAMES.iter().map(|name| wanted.contains(name)).collect()
            }
        };
        Ok(Self {
            late_effect: on[0],
            ach_fee_cents: on[1].then_some(fee),
            gross: on[2],
            list_page_cap: on[3].then_some(cap),
            settled_after_complete_ms: on[4].then_some(settled),
            drop_events: on[5],
            maintenance: on[6],
        })
    }

    /// The body of `POST /_sandbox/alpaca/settings` for this run.
    pub fn alpaca_settings(&self) -> Value {
        json!({
            "ach_fee": self.ach_fee_cents.map_or_else(|| "0".to_owned(), cents),
            "cash_withdrawable": if self.gross { "gross" } else { "net" },
            "list_page_cap": self.list_page_cap,
            "settled_after_complete_ms": self.settled_after_complete_ms,
        })
    }

    /// The fee in cents (zero without one).
    pub fn fee_cents(&self) -> i64 {
        self.ach_fee_cents.unwrap_or(0)
    }

    /// One line per state: what is on (with its parameters), and what is off.
    pub fn describe(&self) -> (String, String) {
        let mut on = Vec::new();
        let mut off = Vec::new();
        let mut note = |enabled: bool, name: &str, text: String| {
            if enabled {
                on.push(text);
            } else {
                off.push(name.to_owned());
            }
        };
        note(
            self.late_effect,
            "late_effect",
            format!(
                "late_effect (Alpaca transfer and relationship creates answered 504, 500 or nothing, \
                 the effect {LATE_EFFECT_MIN_DELAY_MS}-{LATE_EFFECT_MAX_DELAY_MS} ms later)"
            ),
        );
        note(
            self.ach_fee_cents.is_some(),
            "fee",
            format!("ach_fee {}", cents(self.fee_cents())),
        );
        note(self.gross, "gross", "cash_withdrawable gross".to_owned());
        note(
            self.list_page_cap.is_some(),
            "page_cap",
            format!("list_page_cap {}", self.list_page_cap.unwrap_or(0)),
        );
        note(
            self.settled_after_complete_ms.is_some(),
            "settled",
            format!(
                "settled_after_complete_ms {}",
                self.settled_after_complete_ms.unwrap_or(0)
            ),
        );
        note(
            self.drop_events,
            "drop_events",
            "dropped live events".to_owned(),
        );
        note(
            self.maintenance,
            "maintenance",
            "Plaid 503 PLANNED_MAINTENANCE (the public-token exchange included)".to_owned(),
        );
        let join = |items: Vec<String>| {
            if items.is_empty() {
                "none".to_owned()
            } else {
                items.join(", ")
            }
        };
        (join(on), join(off))
    }
}

/// Cents as Alpaca's decimal string.
pub fn cents(amount: i64) -> String {
    format!("{}.{:02}", amount / 100, amount % 100)
}

/// Plaid's documented "not processed, retry later" error object.
pub fn planned_maintenance() -> Value {
    json!({
        "error_type": "API_ERROR",
        "error_code": "PLANNED_MAINTENANCE",
        "error_message": "the Plaid API is temporarily unavailable due to planned maintenance",
        "display_message": null,
    })
}
