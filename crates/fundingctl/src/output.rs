//! Human output: aligned tables, one row per resource, statuses without their enum prefix.

use funding_client::v1;

/// An aligned table with a header row.
pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: Vec<&'static str>) -> Self {
        Self {
            header,
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(width) = widths.get_mut(i) {
                    *width = (*width).max(cell.chars().count());
                }
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self.header.iter().map(|h| (*h).to_owned()).collect();
        for row in std::iter::once(&header).chain(self.rows.iter()) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let width = widths.get(i).copied().unwrap_or(0);
                line.push_str(&format!("{cell:<width$}"));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `TRANSFER_STATUS_COMPLETE` → `COMPLETE`.
pub fn short(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix).unwrap_or(name).to_owned()
}

pub fn timestamp(value: Option<&prost_types::Timestamp>) -> String {
    value.map_or_else(|| "-".to_owned(), ToString::to_string)
}

fn dash(text: &str) -> String {
    if text.is_empty() {
        "-".to_owned()
    } else {
        text.to_owned()
    }
}

pub fn bank_links<'a>(links: impl IntoIterator<Item = &'a v1::BankLink>) -> String {
    let mut table = Table::new(vec![
        "ID", "STATUS", "HEALTH", "ACCOUNT", "NICKNAME", "BANK", "REASON", "CREATED",
    ]);
    for link in links {
        let bank = if link.bank_account_mask.is_empty() {
            dash(&link.bank_account_type)
        } else {
            format!(
                "{} ••{}",
                dash(&link.bank_account_type),
                link.bank_account_mask
            )
        };
        table.row(vec![
            link.id.clone(),
            short(link.status().as_str_name(), "BANK_LINK_STATUS_"),
            short(link.health().as_str_name(), "BANK_LINK_HEALTH_"),
            link.account_id.clone(),
            dash(&link.nickname),
            bank,
            dash(
                &[link.status_reason.as_str(), link.health_reason.as_str()]
                    .iter()
                    .filter(|text| !text.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            timestamp(link.created_at.as_ref()),
        ]);
    }
    table.render()
}

pub fn transfers<'a>(transfers: impl IntoIterator<Item = &'a v1::Transfer>) -> String {
    let mut table = Table::new(vec![
        "ID",
        "STATUS",
        "AMOUNT",
        "DIRECTION",
        "BANK LINK",
        "REASON",
        "CREATED",
    ]);
    for transfer in transfers {
        table.row(vec![
            transfer.id.clone(),
            short(transfer.status().as_str_name(), "TRANSFER_STATUS_"),
            transfer.amount.clone(),
            short(transfer.direction().as_str_name(), "TRANSFER_DIRECTION_"),
            transfer.bank_link_id.clone(),
            transfer_reason(transfer),
            timestamp(transfer.created_at.as_ref()),
        ]);
    }
    table.render()
}

pub fn provider_orphans<'a>(orphans: impl IntoIterator<Item = &'a v1::ProviderOrphan>) -> String {
    let mut table = Table::new(vec![
        "KIND",
        "ALPACA ID",
        "ACCOUNT",
        "STATUS",
        "AMOUNT",
        "DIRECTION",
        "CREATED AT ALPACA",
        "FIRST SEEN",
    ]);
    for orphan in orphans {
        let or_dash = |text: &str| {
            if text.is_empty() {
                "-".to_owned()
            } else {
                text.to_owned()
            }
        };
        table.row(vec![
            short(orphan.kind().as_str_name(), "PROVIDER_ORPHAN_KIND_"),
            orphan.provider_id.clone(),
            orphan.account_id.clone(),
            orphan.provider_status.clone(),
            or_dash(&orphan.amount),
            match orphan.direction() {
                v1::TransferDirection::Unspecified => "-".to_owned(),
                direction => short(direction.as_str_name(), "TRANSFER_DIRECTION_"),
            },
            timestamp(orphan.provider_created_at.as_ref()),
            timestamp(orphan.first_seen_at.as_ref()),
        ]);
    }
    table.render()
}

/// The reason and ACH return code of a transfer, `-` when it has none.
pub fn transfer_reason(transfer: &v1::Transfer) -> String {
    match (
        transfer.status_reason.is_empty(),
        transfer.ach_return_code.is_empty(),
    ) {
        (true, true) => "-".to_owned(),
        (false, true) => transfer.status_reason.clone(),
        (true, false) => transfer.ach_return_code.clone(),
        (false, false) => format!("{} ({})", transfer.status_reason, transfer.ach_return_code),
    }
}

pub fn bank_transfers<'a>(items: impl IntoIterator<Item = &'a v1::BankTransfer>) -> String {
    let mut table = Table::new(vec![
        "ID",
        "STATUS",
        "AMOUNT",
        "TYPE",
        "NETWORK",
        "DIRECTION",
        "FAILURE",
        "CREATED",
    ]);
    for bt in items {
        let failure = bt.failure_reason.as_ref().map_or_else(
            || "-".to_owned(),
            |f| format!("{} {}", f.ach_return_code, f.description),
        );
        table.row(vec![
            bt.id.clone(),
            short(bt.status().as_str_name(), "BANK_TRANSFER_STATUS_"),
            format!("{} {}", bt.amount, bt.iso_currency_code)
                .trim()
                .to_owned(),
            short(bt.r#type().as_str_name(), "BANK_TRANSFER_TYPE_"),
            short(bt.network().as_str_name(), "BANK_TRANSFER_NETWORK_"),
            short(bt.direction().as_str_name(), "BANK_TRANSFER_DIRECTION_"),
            dash(failure.trim()),
            timestamp(bt.created.as_ref()),
        ]);
    }
    table.render()
}

/// `soft/hard`, `-` for a side without a limit.
fn soft_hard(limit: Option<&v1::Limit>) -> String {
    let limit = limit.cloned().unwrap_or_default();
    format!("{}/{}", dash(&limit.soft), dash(&limit.hard))
}

/// One row per rail and direction: the limits in force, who overrode them and why, what is used.
pub fn flows<'a>(flows: impl IntoIterator<Item = &'a v1::FlowFunding>) -> String {
    let mut table = Table::new(vec![
        "RAIL",
        "DIRECTION",
        "PER TRANSFER SOFT/HARD",
        "DAILY SOFT/HARD",
        "30 DAYS SOFT/HARD",
        "USED TODAY",
        "USED 30 DAYS",
        "OVERRIDDEN BY",
    ]);
    for flow in flows {
        let limits = flow.limits.clone().unwrap_or_default();
        let overridden = if !flow.overridden {
            "-".to_owned()
        } else if flow.override_reason.is_empty() {
            dash(&flow.overridden_by)
        } else {
            format!("{}: {}", dash(&flow.overridden_by), flow.override_reason)
        };
        table.row(vec![
            short(flow.rail().as_str_name(), "FUNDING_RAIL_"),
            short(flow.direction().as_str_name(), "TRANSFER_DIRECTION_"),
            soft_hard(limits.per_transfer.as_ref()),
            soft_hard(limits.daily.as_ref()),
            soft_hard(limits.rolling_30_days.as_ref()),
            dash(&flow.used_today),
            dash(&flow.used_last_30_days),
            overridden,
        ]);
    }
    table.render()
}

/// An account's funding: whether it is frozen (why, by whom, since when), its pending deposits,
/// then its flows.
pub fn account_funding(funding: &v1::GetAccountFundingResponse) -> String {
    let frozen = if funding.frozen {
        format!(
            "yes, by {} at {}: {}",
            dash(&funding.frozen_by),
            timestamp(funding.frozen_at.as_ref()),
            dash(&funding.frozen_reason)
        )
    } else {
        "no".to_owned()
    };
    let returns = funding
        .returns_60_days
        .as_ref()
        .map(return_rates_line)
        .unwrap_or_else(|| "-".to_owned());
    format!(
        "account           {}\nfrozen            {frozen}\npending deposits  {}\nin return window  {}\nreturns 60 days   {returns}\n\n{}",
        funding.account_id,
        dash(&funding.pending_deposits),
        dash(&funding.in_return_window),
        flows(&funding.flows)
    )
}

/// `12 debits, 2 returned (16.66 %): unauthorized 1 (8.33 %), administrative 0 (0.00 %); over: overall`.
pub fn return_rates_line(rates: &v1::ReturnRates) -> String {
    let percent = |bp: i32| format!("{}.{:02} %", bp / 100, bp % 100);
    let over = if rates.ceilings_passed.is_empty() {
        String::new()
    } else {
        format!(
            "; over NACHA's ceiling: {}",
            rates.ceilings_passed.join(", ")
        )
    };
    format!(
        "{} debits, {} returned ({}): unauthorized {} ({}), administrative {} ({}){over}",
        rates.debits,
        rates.returned,
        percent(rates.overall_basis_points),
        rates.unauthorized,
        percent(rates.unauthorized_basis_points),
        rates.administrative,
        percent(rates.administrative_basis_points),
    )
}

/// `GetReturnRates` as a table: one row per rail.
pub fn return_rates(response: &v1::GetReturnRatesResponse) -> String {
    let mut table = Table::new(vec![
        "RAIL",
        "DEBITS",
        "RETURNED",
        "OVERALL",
        "UNAUTHORIZED",
        "ADMINISTRATIVE",
        "OVER CEILING",
    ]);
    let percent = |bp: i32| format!("{}.{:02} %", bp / 100, bp % 100);
    for rail in &response.rails {
        let rates = rail.rates.clone().unwrap_or_default();
        table.row(vec![
            short(rail.rail().as_str_name(), "FUNDING_RAIL_"),
            rates.debits.to_string(),
            rates.returned.to_string(),
            percent(rates.overall_basis_points),
            format!(
                "{} ({})",
                percent(rates.unauthorized_basis_points),
                rates.unauthorized
            ),
            format!(
                "{} ({})",
                percent(rates.administrative_basis_points),
                rates.administrative
            ),
            if rates.ceilings_passed.is_empty() {
                "-".to_owned()
            } else {
                rates.ceilings_passed.join(", ")
            },
        ]);
    }
    table.render()
}

pub fn reviews<'a>(reviews: impl IntoIterator<Item = &'a v1::Review>) -> String {
    let mut table = Table::new(vec![
        "ID",
        "RESOURCE",
        "ACCOUNT",
        "STATE",
        "RULE",
        "REASON",
        "AMOUNT",
        "EXPIRES",
        "DECIDED BY",
    ]);
    for review in reviews {
        table.row(vec![
            review.id.clone(),
            format!(
                "{}/{}",
                dash(&review.resource_type),
                dash(&review.resource_id)
            ),
            dash(&review.account_id),
            short(review.state().as_str_name(), "REVIEW_STATE_"),
            dash(&review.rule),
            dash(&review.reason),
            dash(&review.amount),
            timestamp(review.expires_at.as_ref()),
            dash(&review.decided_by),
        ]);
    }
    table.render()
}

pub fn audit_events<'a>(events: impl IntoIterator<Item = &'a v1::AuditEvent>) -> String {
    let mut table = Table::new(vec!["SEQ", "AT", "ACTOR", "ACTION", "RESOURCE", "REASON"]);
    for event in events {
        table.row(vec![
            event.sequence.to_string(),
            timestamp(event.at.as_ref()),
            dash(&event.actor),
            dash(&event.action),
            dash(&event.resource),
            dash(&event.reason),
        ]);
    }
    table.render()
}

/// One line for one change of a watched transfer.
pub fn watch_line(event: &v1::WatchTransfersResponse) -> String {
    match &event.transfer {
        Some(t) => format!(
            "event {}  {}  {}  {} {}  {}",
            event.event_id,
            t.id,
            short(t.status().as_str_name(), "TRANSFER_STATUS_"),
            short(t.direction().as_str_name(), "TRANSFER_DIRECTION_"),
            t.amount,
            transfer_reason(t),
        ),
        None => format!("event {}  (no transfer)", event.event_id),
    }
}

/// Why a single resource waits, as one line after its table (nothing when it does not wait).
pub fn waiting(waiting: Option<&v1::Waiting>) -> String {
    let Some(waiting) = waiting else {
        return String::new();
    };
    let mut line = format!(
        "waiting: {} — {}",
        short(waiting.reason().as_str_name(), "WAITING_REASON_"),
        waiting.detail
    );
    if !waiting.behind.is_empty() {
        line.push_str(&format!("; behind {}", waiting.behind));
    }
    if !waiting.provider_code.is_empty() {
        line.push_str(&format!("; provider code {}", waiting.provider_code));
    }
    if waiting.next_attempt_at.is_some() {
        line.push_str(&format!(
            "; next try {}",
            timestamp(waiting.next_attempt_at.as_ref())
        ));
    }
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_aligned() {
        let mut table = Table::new(vec!["ID", "STATUS"]);
        table.row(vec!["abc".into(), "COMPLETE".into()]);
        table.row(vec!["a".into(), "QUEUED".into()]);
        assert_eq!(table.render(), "ID   STATUS\nabc  COMPLETE\na    QUEUED\n");
    }
}
