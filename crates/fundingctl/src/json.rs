//! The proto messages as JSON, built by hand (the generated prost types do not derive serde).
//! Field names are the proto field names (snake_case); enum values are their proto names
//! (`TRANSFER_STATUS_COMPLETE`); timestamps are RFC 3339 strings, or null when unset.

use funding_client::v1;
use serde_json::{Map, Value, json};

fn timestamp(value: Option<&prost_types::Timestamp>) -> Value {
    value.map_or(Value::Null, |t| Value::String(t.to_string()))
}

pub fn bank_link(link: &v1::BankLink) -> Value {
    json!({
        "id": link.id,
        "account_id": link.account_id,
        "status": link.status().as_str_name(),
        "ach_relationship_id": link.ach_relationship_id,
        "account_owner_name": link.account_owner_name,
        "nickname": link.nickname,
        "status_reason": link.status_reason,
        "created_at": timestamp(link.created_at.as_ref()),
        "updated_at": timestamp(link.updated_at.as_ref()),
        "plaid_account_id": link.plaid_account_id,
        "bank_account_type": link.bank_account_type,
        "bank_account_mask": link.bank_account_mask,
        "waiting": waiting(link.waiting.as_ref()),
        "health": link.health().as_str_name(),
        "health_reason": link.health_reason,
        "replaces_bank_link_id": link.replaces_bank_link_id,
    })
}

pub fn provider_orphan(orphan: &v1::ProviderOrphan) -> Value {
    json!({
        "kind": orphan.kind().as_str_name(),
        "provider_id": orphan.provider_id,
        "account_id": orphan.account_id,
        "relationship_id": orphan.relationship_id,
        "amount": orphan.amount,
        "direction": orphan.direction().as_str_name(),
        "provider_status": orphan.provider_status,
        "provider_created_at": timestamp(orphan.provider_created_at.as_ref()),
        "first_seen_at": timestamp(orphan.first_seen_at.as_ref()),
        "last_seen_at": timestamp(orphan.last_seen_at.as_ref()),
    })
}

pub fn transfer(transfer: &v1::Transfer) -> Value {
    json!({
        "id": transfer.id,
        "account_id": transfer.account_id,
        "bank_link_id": transfer.bank_link_id,
        "amount": transfer.amount,
        "direction": transfer.direction().as_str_name(),
        "status": transfer.status().as_str_name(),
        "status_reason": transfer.status_reason,
        "ach_return_code": transfer.ach_return_code,
        "ach_return_description": transfer.ach_return_description,
        "provider_transfer_id": transfer.provider_transfer_id,
        "created_at": timestamp(transfer.created_at.as_ref()),
        "updated_at": timestamp(transfer.updated_at.as_ref()),
        "waiting": waiting(transfer.waiting.as_ref()),
    })
}

pub fn watch_event(event: &v1::WatchTransfersResponse) -> Value {
    json!({
        "event_id": event.event_id,
        "transfer": event.transfer.as_ref().map_or(Value::Null, transfer),
    })
}

pub fn bank_transfer(bt: &v1::BankTransfer) -> Value {
    let mut metadata: Vec<(&String, &String)> = bt.metadata.iter().collect();
    metadata.sort();
    let metadata: Map<String, Value> = metadata
        .into_iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({
        "id": bt.id,
        "ach_class": bt.ach_class().as_str_name(),
        "account_id": bt.account_id,
        "type": bt.r#type().as_str_name(),
        "user": bt.user.as_ref().map_or(Value::Null, |u| json!({
            "legal_name": u.legal_name,
            "email_address": u.email_address,
            "routing_number": u.routing_number,
        })),
        "amount": bt.amount,
        "iso_currency_code": bt.iso_currency_code,
        "description": bt.description,
        "created": timestamp(bt.created.as_ref()),
        "status": bt.status().as_str_name(),
        "network": bt.network().as_str_name(),
        "cancellable": bt.cancellable,
        "failure_reason": bt.failure_reason.as_ref().map_or(Value::Null, |f| json!({
            "ach_return_code": f.ach_return_code,
            "description": f.description,
        })),
        "custom_tag": bt.custom_tag,
        "metadata": metadata,
        "origination_account_id": bt.origination_account_id,
        "direction": bt.direction().as_str_name(),
        "provider_bank_transfer_id": bt.provider_bank_transfer_id,
        "status_reason": bt.status_reason,
        "failure_code": bt.failure_code,
        "updated_at": timestamp(bt.updated_at.as_ref()),
        "waiting": waiting(bt.waiting.as_ref()),
    })
}

pub fn public_token(response: &v1::CreatePublicTokenResponse, checking: Option<&str>) -> Value {
    json!({
        "public_token": response.public_token,
        "checking_account_id": checking,
        "accounts": response.accounts.iter().map(|a| json!({
            "account_id": a.account_id,
            "name": a.name,
            "mask": a.mask,
            "type": a.r#type,
            "subtype": a.subtype,
        })).collect::<Vec<_>>(),
    })
}

pub fn processor_token(response: &v1::CreateProcessorTokenResponse) -> Value {
    json!({ "processor_token": response.processor_token })
}

/// A soft and a hard limit; empty strings for none.
fn limit(limit: Option<&v1::Limit>) -> Value {
    let limit = limit.cloned().unwrap_or_default();
    json!({ "soft": limit.soft, "hard": limit.hard })
}

pub fn flow_funding(flow: &v1::FlowFunding) -> Value {
    let limits = flow.limits.clone().unwrap_or_default();
    json!({
        "rail": flow.rail().as_str_name(),
        "direction": flow.direction().as_str_name(),
        "limits": {
            "per_transfer": limit(limits.per_transfer.as_ref()),
            "daily": limit(limits.daily.as_ref()),
            "rolling_30_days": limit(limits.rolling_30_days.as_ref()),
        },
        "overridden": flow.overridden,
        "overridden_by": flow.overridden_by,
        "override_reason": flow.override_reason,
        "used_today": flow.used_today,
        "used_last_30_days": flow.used_last_30_days,
    })
}

pub fn flows(flows: &[v1::FlowFunding]) -> Value {
    json!({ "flows": flows.iter().map(flow_funding).collect::<Vec<_>>() })
}

pub fn account_funding(funding: &v1::GetAccountFundingResponse) -> Value {
    json!({
        "account_id": funding.account_id,
        "frozen": funding.frozen,
        "frozen_reason": funding.frozen_reason,
        "frozen_by": funding.frozen_by,
        "frozen_at": timestamp(funding.frozen_at.as_ref()),
        "flows": funding.flows.iter().map(flow_funding).collect::<Vec<_>>(),
        "pending_deposits": funding.pending_deposits,
        "in_return_window": funding.in_return_window,
        "returns_60_days": funding.returns_60_days.as_ref().map(return_rates),
    })
}

pub fn return_rates(rates: &v1::ReturnRates) -> Value {
    json!({
        "debits": rates.debits,
        "returned": rates.returned,
        "unauthorized": rates.unauthorized,
        "administrative": rates.administrative,
        "overall_basis_points": rates.overall_basis_points,
        "unauthorized_basis_points": rates.unauthorized_basis_points,
        "administrative_basis_points": rates.administrative_basis_points,
        "ceilings_passed": rates.ceilings_passed,
    })
}

pub fn return_rates_by_rail(response: &v1::GetReturnRatesResponse) -> Value {
    json!(
        response
            .rails
            .iter()
            .map(|rail| json!({
                "rail": rail.rail().as_str_name(),
                "rates": rail.rates.as_ref().map(return_rates),
            }))
            .collect::<Vec<_>>()
    )
}

pub fn freeze(response: &v1::FreezeAccountResponse) -> Value {
    json!({
        "frozen": response.frozen,
        "frozen_reason": response.frozen_reason,
        "changed": response.changed,
    })
}

pub fn unfreeze(response: &v1::UnfreezeAccountResponse) -> Value {
    json!({ "frozen": response.frozen, "changed": response.changed })
}

pub fn review(review: &v1::Review) -> Value {
    json!({
        "id": review.id,
        "resource_type": review.resource_type,
        "resource_id": review.resource_id,
        "account_id": review.account_id,
        "state": review.state().as_str_name(),
        "rule": review.rule,
        "reason": review.reason,
        "detail": review.detail,
        "amount": review.amount,
        "created_at": timestamp(review.created_at.as_ref()),
        "expires_at": timestamp(review.expires_at.as_ref()),
        "decided_at": timestamp(review.decided_at.as_ref()),
        "decided_by": review.decided_by,
        "note": review.note,
    })
}

pub fn reviews(page: &v1::ListReviewsResponse) -> Value {
    json!({
        "reviews": page.reviews.iter().map(review).collect::<Vec<_>>(),
        "next_page_token": page.next_page_token,
    })
}

pub fn audit_event(event: &v1::AuditEvent) -> Value {
    json!({
        "sequence": event.sequence,
        "at": timestamp(event.at.as_ref()),
        "actor": event.actor,
        "action": event.action,
        "resource": event.resource,
        "account_id": event.account_id,
        "reason": event.reason,
        "details_json": event.details_json,
        "hash": event.hash,
        "previous_hash": event.previous_hash,
    })
}

pub fn audit_events(page: &v1::ListAuditEventsResponse) -> Value {
    json!({
        "events": page.events.iter().map(audit_event).collect::<Vec<_>>(),
        "next_page_token": page.next_page_token,
    })
}

/// Why a resource waits; null when it does not.
pub fn waiting(waiting: Option<&v1::Waiting>) -> Value {
    waiting.map_or(Value::Null, |waiting| {
        json!({
            "reason": waiting.reason().as_str_name(),
            "detail": waiting.detail,
            "behind": waiting.behind,
            "provider_code": waiting.provider_code,
            "attempt": waiting.attempt,
            "max_attempts": waiting.max_attempts,
            "next_attempt_at": timestamp(waiting.next_attempt_at.as_ref()),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_are_proto_names_and_unset_timestamps_null() {
        let t = v1::Transfer {
            id: "t1".into(),
            amount: "1.00".into(),
            status: v1::TransferStatus::Complete.into(),
            direction: v1::TransferDirection::Deposit.into(),
            ..Default::default()
        };
        let value = transfer(&t);
        assert_eq!(value["status"], "TRANSFER_STATUS_COMPLETE");
        assert_eq!(value["direction"], "TRANSFER_DIRECTION_DEPOSIT");
        assert_eq!(value["created_at"], Value::Null);
    }
}
