//! Fault injection: rules that make the next N matching provider requests fail with a chosen
//! HTTP status and the provider's own error body (or a body the rule carries), either before the
//! request has any effect, after it (a "dropped response": the effect happened, the caller sees an
//! error), or long after the caller gave up (a late effect). Status 0 means no answer at all: the
//! connection closes without a byte. Outgoing Plaid webhooks have their own small rules
//! ([`WebhookFault`]): delivered twice, or late; so have the events of Alpaca's funding stream
//! ([`EventFault`]): sent twice, late (out of order), or dropped from the live stream.

use axum::http::Method;
use serde::{Deserialize, Serialize};

use super::calls::Host;

/// When an injected failure happens relative to the request's effect.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultMode {
    /// Fail without touching any state (the request never arrived, as far as state goes).
    #[default]
    BeforeEffect,
    /// Perform the request, then answer with the error instead of the real response.
    AfterEffect,
    /// Perform the request and answer the real response, but only after the rule's `delay` (a
    /// slow provider); the rule's status is not used.
    Delayed,
    /// Answer the error at once, then perform the request `delay` later, when the caller has given
    /// up (its answer is discarded): what a provider does when its front end timed out but the
    /// request was queued behind it.
    LateEffect,
}

/// A rule: the next `times` requests to `host` whose path starts with `path_prefix` (and whose
/// method is `method`, when given) answer `status` with the provider's error body (or `body`),
/// or nothing at all when `status` is [`Fault::NO_ANSWER`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Provider the rule applies to.
    pub host: Host,
    /// Method to match; `None` matches any.
    pub method: Option<Method>,
    /// Path prefix to match, e.g. `/v1/accounts/` or `/item/public_token/exchange`.
    pub path_prefix: String,
    /// HTTP status to answer (429, 500, 503, …), or [`Fault::NO_ANSWER`] (0) to close the connection
    /// without an answer.
    pub status: u16,
    /// How many matching requests fail; the rule disappears after that.
    pub times: u32,
    /// Whether the request's effect happens first.
    pub mode: FaultMode,
    /// How long a [`FaultMode::Delayed`] answer waits, or a [`FaultMode::LateEffect`] effect.
    pub delay: std::time::Duration,
    /// The error object to answer instead of the default one (Plaid `{error_type, error_code,
    /// error_message, …}`, Alpaca `{code, message}`); a Plaid one without `request_id` gets one.
    pub body: Option<serde_json::Value>,
}

impl Fault {
    /// The status of a rule that answers nothing: the connection closes before any byte of an
    /// answer, so the caller sees a transport error, not an HTTP status.
    pub const NO_ANSWER: u16 = 0;

    /// A rule failing the next request to `host` under `path_prefix` once, before any effect.
    pub fn new(host: Host, path_prefix: impl Into<String>, status: u16) -> Self {
        Self {
            host,
            method: None,
            path_prefix: path_prefix.into(),
            status,
            times: 1,
            mode: FaultMode::BeforeEffect,
            delay: std::time::Duration::ZERO,
            body: None,
        }
    }

    /// A rule answering the next matching request `status` at once (or nothing, with
    /// [`Fault::NO_ANSWER`]) and performing it `delay` later, after the caller gave up.
    pub fn late_effect(
        host: Host,
        path_prefix: impl Into<String>,
        status: u16,
        delay: std::time::Duration,
    ) -> Self {
        Self {
            mode: FaultMode::LateEffect,
            delay,
            ..Self::new(host, path_prefix, status)
        }
    }

    /// A rule that answers the next matching request normally, after `delay`.
    pub fn slow(host: Host, path_prefix: impl Into<String>, delay: std::time::Duration) -> Self {
        Self {
            mode: FaultMode::Delayed,
            delay,
            ..Self::new(host, path_prefix, 200)
        }
    }

    /// Only match requests with this method.
    pub fn method(mut self, method: Method) -> Self {
        self.method = Some(method);
        self
    }

    /// Fail this many matching requests.
    pub fn times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }

    /// Choose before or after the effect.
    pub fn mode(mut self, mode: FaultMode) -> Self {
        self.mode = mode;
        self
    }

    /// Answer this error object (the provider's own shape) instead of the default one.
    pub fn body(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body);
        self
    }

    fn matches(&self, host: Host, method: &Method, path: &str) -> bool {
        self.times > 0
            && self.host == host
            && self.method.as_ref().is_none_or(|m| m == method)
            && path.starts_with(&self.path_prefix)
    }
}

/// What the traffic layer must do with one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Triggered {
    pub status: u16,
    pub mode: FaultMode,
    pub delay: std::time::Duration,
    pub body: Option<serde_json::Value>,
}

/// The active rules, first match wins.
#[derive(Debug, Default)]
pub(crate) struct FaultBook {
    rules: Vec<Fault>,
}

impl FaultBook {
    pub(crate) fn add(&mut self, fault: Fault) {
        if fault.times > 0 {
            self.rules.push(fault);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    /// Consumes one use of the first rule matching this request, if any.
    pub(crate) fn take(&mut self, host: Host, method: &Method, path: &str) -> Option<Triggered> {
        let index = self
            .rules
            .iter()
            .position(|rule| rule.matches(host, method, path))?;
        let rule = self.rules.get_mut(index)?;
        rule.times -= 1;
        let triggered = Triggered {
            status: rule.status,
            mode: rule.mode,
            delay: rule.delay,
            body: rule.body.clone(),
        };
        if rule.times == 0 {
            self.rules.remove(index);
        }
        Some(triggered)
    }
}

/// A rule for outgoing Plaid webhooks: each of the next `times` webhooks (events updates and
/// `/sandbox/bank_transfer/fire_webhook` ones alike) is delivered after `delay`, and twice (the
/// identical request, signature included) when `duplicate` is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WebhookFault {
    /// How many webhooks the rule applies to; it disappears after that.
    pub times: u32,
    /// Deliver each one twice, the second right after the first answered.
    pub duplicate: bool,
    /// Wait this long before the (first) delivery.
    pub delay: std::time::Duration,
}

impl WebhookFault {
    /// The next webhook is delivered twice.
    pub fn duplicate() -> Self {
        Self {
            times: 1,
            duplicate: true,
            delay: std::time::Duration::ZERO,
        }
    }

    /// The next webhook is delivered after `delay`.
    pub fn delayed(delay: std::time::Duration) -> Self {
        Self {
            times: 1,
            duplicate: false,
            delay,
        }
    }

    /// Apply to this many webhooks.
    pub fn times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }

    /// Also deliver twice.
    pub fn and_duplicate(mut self) -> Self {
        self.duplicate = true;
        self
    }

    /// Also wait `delay` first.
    pub fn and_delay(mut self, delay: std::time::Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// The active webhook rules, oldest first; each webhook uses one turn of the first.
#[derive(Debug, Default)]
pub(crate) struct WebhookFaultBook {
    rules: Vec<WebhookFault>,
}

impl WebhookFaultBook {
    pub(crate) fn add(&mut self, fault: WebhookFault) {
        if fault.times > 0 {
            self.rules.push(fault);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    /// Consumes one turn of the first rule, if any.
    pub(crate) fn take(&mut self) -> Option<WebhookFault> {
        let rule = self.rules.first_mut()?;
        rule.times -= 1;
        let taken = *rule;
        if rule.times == 0 {
            self.rules.remove(0);
        }
        Some(taken)
    }
}

/// A rule for Alpaca's funding event stream: each of the next `times` funding events is sent to
/// the live subscribers twice (`duplicate`: the same frame again right after it), and/or held back
/// for `delay` and then sent after whatever came meanwhile (late, so out of order), or not sent at
/// all (`drop`: the stream skips it, and after the rule's last one says
/// `: you are reading too slowly, dropped N messages`, as Alpaca does for a slow reader, and goes
/// on). The event log itself keeps every event once and in order: a reconnect with `since_id`
/// replays them as Alpaca would.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventFault {
    /// How many events the rule applies to; it disappears after that.
    pub times: u32,
    /// Send each one twice.
    pub duplicate: bool,
    /// Hold each one back this long (zero: send it at once).
    pub delay: std::time::Duration,
    /// Skip each one on the live stream (`duplicate` and `delay` are then ignored).
    pub drop: bool,
}

impl EventFault {
    /// The next event is sent twice.
    pub fn duplicate() -> Self {
        Self {
            times: 1,
            duplicate: true,
            delay: std::time::Duration::ZERO,
            drop: false,
        }
    }

    /// The next event is sent `delay` late, after the events emitted meanwhile.
    pub fn delayed(delay: std::time::Duration) -> Self {
        Self {
            times: 1,
            duplicate: false,
            delay,
            drop: false,
        }
    }

    /// The next `count` events are skipped on the live stream, which then says it dropped them.
    pub fn dropped(count: u32) -> Self {
        Self {
            times: count,
            duplicate: false,
            delay: std::time::Duration::ZERO,
            drop: true,
        }
    }

    /// Apply to this many events.
    pub fn times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }

    /// Also send twice.
    pub fn and_duplicate(mut self) -> Self {
        self.duplicate = true;
        self
    }
}

/// The active event rules, oldest first; each event uses one turn of the first.
#[derive(Debug, Default)]
pub(crate) struct EventFaultBook {
    rules: Vec<EventFault>,
}

impl EventFaultBook {
    pub(crate) fn add(&mut self, fault: EventFault) {
        if fault.times > 0 {
            self.rules.push(fault);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    /// Consumes one turn of the first rule, if any; `times` of the answer is the number of
    /// turns that rule has left (0: this was its last).
    pub(crate) fn take(&mut self) -> Option<EventFault> {
        let rule = self.rules.first_mut()?;
        rule.times -= 1;
        let taken = *rule;
        if rule.times == 0 {
            self.rules.remove(0);
        }
        Some(taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_rules_apply_in_order_for_their_times() {
        let mut book = EventFaultBook::default();
        book.add(EventFault::duplicate().times(2));
        book.add(EventFault::delayed(std::time::Duration::from_millis(5)));
        book.add(EventFault::duplicate().times(0));
        assert!(book.take().is_some_and(|f| f.duplicate));
        assert!(book.take().is_some_and(|f| f.duplicate));
        assert!(
            book.take()
                .is_some_and(|f| !f.duplicate && !f.delay.is_zero())
        );
        assert!(book.take().is_none());
        book.add(EventFault::duplicate().times(5));
        book.clear();
        assert!(book.take().is_none());
    }

    #[test]
    fn webhook_rules_apply_in_order_for_their_times() {
        let mut book = WebhookFaultBook::default();
        book.add(WebhookFault::duplicate().times(2));
        book.add(WebhookFault::delayed(std::time::Duration::from_millis(5)));
        book.add(WebhookFault::duplicate().times(0));
        assert!(book.take().is_some_and(|f| f.duplicate));
        assert!(book.take().is_some_and(|f| f.duplicate));
        assert!(
            book.take()
                .is_some_and(|f| !f.duplicate && !f.delay.is_zero())
        );
        assert!(book.take().is_none());
    }

    #[test]
    fn a_rule_fires_exactly_times_then_disappears() {
        let mut book = FaultBook::default();
        book.add(Fault::new(Host::Plaid, "/item/", 500).times(2));
        assert!(book.take(Host::Plaid, &Method::POST, "/item/get").is_some());
        assert!(
            book.take(Host::Alpaca, &Method::POST, "/item/get")
                .is_none()
        );
        assert!(
            book.take(Host::Plaid, &Method::POST, "/accounts/get")
                .is_none()
        );
        assert!(book.take(Host::Plaid, &Method::POST, "/item/get").is_some());
        assert!(book.take(Host::Plaid, &Method::POST, "/item/get").is_none());
    }

    #[test]
    fn a_method_restricted_rule_ignores_other_methods() {
        let mut book = FaultBook::default();
        book.add(Fault::new(Host::Alpaca, "/v1/", 503).method(Method::POST));
        assert!(book.take(Host::Alpaca, &Method::GET, "/v1/x").is_none());
        let hit = book.take(Host::Alpaca, &Method::POST, "/v1/x");
        assert_eq!(hit.map(|t| t.status), Some(503));
    }
}
