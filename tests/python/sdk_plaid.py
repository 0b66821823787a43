"""The emulator's Plaid side, specified from Plaid's official Python SDK (plaid-python 46.0.0).

run_sdk.sh starts the standalone funding-sandbox binary and runs this module with
`python -m unittest`, with SANDBOX_PLAID_URL set. Every Plaid call goes through plaid-python's
PlaidApi, whose generated models check every answer (required fields, types, enum values,
nullability) when they deserialize it (DESIGN.md §7: an official SDK pointed at the emulator must not
notice). Only the emulator's own control API (/_sandbox/...) is called with plain HTTP.

plaid-python 46 facts this relies on (plaid/model/*.py, spec 2020-09-14_1.778.0):
- BankTransfer requires all 17 fields; ach_class must be one of ccd, ppd, tel, web.
- BankTransferEvent also requires receiver_details (ReceiverDetails {available_balance: str|None}).
- BankTransferBalanceGetResponse requires balance {available, transactable} (strings),
  origination_account_id (nullable) and request_id.
- WebhookVerificationKeyGetResponse.key is a JWKPublicKey: alg, crv, kid, kty, use, x, y,
  created_at (int), expired_at (int or None), all required.
- Errors are plaid.ApiException with the JSON PlaidError as its body.

The webhook JWTs are verified with PyJWT[crypto] (pinned in sdk-requirements.txt), as a receiver
following Plaid's webhook-verification guide would.
"""

import base64
import hashlib
import http.server
import json
import os
import queue
import threading
import time
import unittest
import uuid
from datetime import datetime
from decimal import Decimal

import jwt
import plaid
import requests
from plaid.api import plaid_api
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.ach_class import ACHClass
from plaid.model.bank_transfer_balance_get_request import BankTransferBalanceGetRequest
from plaid.model.bank_transfer_cancel_request import BankTransferCancelRequest
from plaid.model.bank_transfer_event_list_request import BankTransferEventListRequest
from plaid.model.bank_transfer_event_sync_request import BankTransferEventSyncRequest
from plaid.model.bank_transfer_event_type import BankTransferEventType
from plaid.model.bank_transfer_failure import BankTransferFailure
from plaid.model.bank_transfer_get_request import BankTransferGetRequest
from plaid.model.bank_transfer_idempotency_key import BankTransferIdempotencyKey
from plaid.model.bank_transfer_list_request import BankTransferListRequest
from plaid.model.bank_transfer_metadata import BankTransferMetadata
from plaid.model.bank_transfer_network import BankTransferNetwork
from plaid.model.bank_transfer_type import BankTransferType
from plaid.model.bank_transfer_user import BankTransferUser
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.processor_bank_transfer_create_request import ProcessorBankTransferCreateRequest
from plaid.model.processor_token_create_request import ProcessorTokenCreateRequest
from plaid.model.products import Products
from plaid.model.sandbox_bank_transfer_fire_webhook_request import (
    SandboxBankTransferFireWebhookRequest,
)
from plaid.model.sandbox_bank_transfer_simulate_request import SandboxBankTransferSimulateRequest
from plaid.model.sandbox_processor_token_create_request import SandboxProcessorTokenCreateRequest
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest
from plaid.model.webhook_verification_key_get_request import WebhookVerificationKeyGetRequest

PLAID_URL = os.environ.get("SANDBOX_PLAID_URL", "http://127.0.0.1:8701")
# The credentials run_sdk.sh starts the standalone emulator with (it refuses any others).
CLIENT_ID = "sdk-test-client"
SECRET = "sdk-test-secret"
HTTP_TIMEOUT_S = 10.0
WEBHOOK_WAIT_S = 10.0
INSTITUTION = "ins_109508"
ORIGINATION_ACCOUNT_ID = "11111111-1111-1111-1111-111111111111"
WEBHOOK_BODY = {
    "webhook_type": "BANK_TRANSFERS",
    "webhook_code": "BANK_TRANSFERS_EVENTS_UPDATE",
    "environment": "sandbox",
}


def make_client() -> plaid_api.PlaidApi:
    configuration = plaid.Configuration(
        host=PLAID_URL,
        api_key={"clientId": CLIENT_ID, "secret": SECRET, "plaidVersion": "2020-09-14"},
    )
    return plaid_api.PlaidApi(plaid.ApiClient(configuration))


def control(method: str, path: str, body: dict | None = None):
    answer = requests.request(method, PLAID_URL + "/_sandbox" + path, json=body, timeout=HTTP_TIMEOUT_S)
    if answer.status_code >= 300:
        raise AssertionError(f"control {method} {path}: {answer.status_code} {answer.text}")
    return answer.json() if answer.text else None


def plaid_error(exception: plaid.ApiException) -> dict:
    return json.loads(exception.body)


def b64url_json(segment: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


class WebhookReceiver:
    """A tiny local HTTP server that queues every POST it gets (headers, exact body bytes)."""

    def __init__(self):
        received: queue.Queue = queue.Queue()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                # Header names as received are lower case over hyper; look them up lower case.
                received.put(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.received = received
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/plaid/webhooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def next(self) -> tuple[dict, bytes]:
        return self.received.get(timeout=WEBHOOK_WAIT_S)

    def nothing_pending(self) -> bool:
        return self.received.empty()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class PlaidSdkTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = make_client()
        cls.receiver = WebhookReceiver()

    @classmethod
    def tearDownClass(cls):
        control("DELETE", "/plaid/webhook")
        cls.receiver.close()

    # --- helpers ----------------------------------------------------------------------------------

    def processor_token(self) -> str:
        answer = self.client.sandbox_processor_token_create(
            SandboxProcessorTokenCreateRequest(institution_id=INSTITUTION)
        )
        self.assertTrue(answer.processor_token.startswith("processor-sandbox-"))
        self.assertTrue(answer.request_id)
        return answer.processor_token

    def create(self, token: str, kind: str, amount: str, key: str | None = None, **extra):
        request = ProcessorBankTransferCreateRequest(
            idempotency_key=BankTransferIdempotencyKey(key or str(uuid.uuid4())),
            processor_token=token,
            type=BankTransferType(kind),
            network=BankTransferNetwork("ach"),
            amount=amount,
            iso_currency_code="USD",
            description="sdk test",
            ach_class=ACHClass("web" if kind == "debit" else "ppd"),
            user=BankTransferUser(legal_name="Ada Lovelace", email_address="ada@example.com"),
            **extra,
        )
        return self.client.processor_bank_transfer_create(request).bank_transfer

    def simulate(self, transfer_id: str, event_type: str, **extra):
        answer = self.client.sandbox_bank_transfer_simulate(
            SandboxBankTransferSimulateRequest(bank_transfer_id=transfer_id, event_type=event_type, **extra)
        )
        self.assertTrue(answer.request_id)

    def balance(self) -> Decimal:
        answer = self.client.bank_transfer_balance_get(BankTransferBalanceGetRequest())
        self.assertEqual(answer.origination_account_id, ORIGINATION_ACCOUNT_ID)
        self.assertEqual(answer.balance.transactable, answer.balance.available)
        return Decimal(answer.balance.available)

    def sync_all(self, after_id: int = 0, count: int = 2) -> list:
        """Pages /bank_transfer/event/sync with `count` until a short page, as Plaid says to."""
        events = []
        while True:
            page = self.client.bank_transfer_event_sync(
                BankTransferEventSyncRequest(after_id=after_id, count=count)
            ).bank_transfer_events
            events.extend(page)
            if page:
                after_id = page[-1].event_id
            if len(page) < count:
                return events

    def verify_webhook(self, headers: dict, body: bytes) -> dict:
        """Plaid's webhook verification: ES256 only, the key by kid, the signature, a fresh iat,
        the body's SHA-256. Returns the JWT claims."""
        self.assertEqual(json.loads(body), WEBHOOK_BODY)
        self.assertIn(b'\n  "webhook_type": "BANK_TRANSFERS"', body, "2-space indentation")
        self.assertEqual(headers.get("content-type"), "application/json")
        token = headers["plaid-verification"]
        header_segment = token.split(".")[0]
        header = b64url_json(header_segment)
        self.assertEqual(header["alg"], "ES256")
        self.assertEqual(header["typ"], "JWT")
        self.assertEqual(jwt.get_unverified_header(token)["kid"], header["kid"])
        key = self.client.webhook_verification_key_get(
            WebhookVerificationKeyGetRequest(key_id=header["kid"])
        ).key
        self.assertIsNone(key.expired_at, "signed with an expired key")
        jwk = {name: getattr(key, name) for name in ("alg", "crv", "kid", "kty", "use", "x", "y")}
        public_key = jwt.PyJWK.from_dict(jwk).key
        claims = jwt.decode(token, key=public_key, algorithms=["ES256"], options={"require": []})
        self.assertLess(abs(time.time() - claims["iat"]), 300)
        self.assertEqual(claims["request_body_sha256"], hashlib.sha256(body).hexdigest())
        # Unverified, the claims say the same.
        self.assertEqual(b64url_json(token.split(".")[1]), claims)
        return claims

    # --- the tests --------------------------------------------------------------------------------

    def test_processor_tokens_from_the_sandbox_and_from_a_link(self):
        self.processor_token()
        public_token = self.client.sandbox_public_token_create(
            SandboxPublicTokenCreateRequest(institution_id=INSTITUTION, initial_products=[Products("auth")])
        ).public_token
        exchanged = self.client.item_public_token_exchange(
            ItemPublicTokenExchangeRequest(public_token=public_token)
        )
        accounts = self.client.accounts_get(AccountsGetRequest(access_token=exchanged.access_token)).accounts
        checking = next(a for a in accounts if str(a.subtype) == "checking")
        token = self.client.processor_token_create(
            ProcessorTokenCreateRequest(
                access_token=exchanged.access_token, account_id=checking.account_id, processor="alpaca"
            )
        ).processor_token
        self.assertTrue(token.startswith("processor-sandbox-"))
        transfer = self.create(token, "debit", "1.00")
        self.assertEqual(transfer.account_id, checking.account_id)

    def test_a_debit_is_created_read_listed_posted_and_reversed(self):
        token = self.processor_token()
        start = datetime.now().astimezone()
        transfer = self.create(
            token, "debit", "12.34", custom_tag="deposit-42",
            metadata=BankTransferMetadata(deposit="42", source="sdk"),
        )
        self.assertEqual(transfer.type, BankTransferType("debit"))
        self.assertEqual(str(transfer.status), "pending")
        self.assertEqual(str(transfer.network), "ach")
        self.assertEqual(transfer.ach_class, ACHClass("web"))
        self.assertEqual(transfer.amount, "12.34")
        self.assertEqual(transfer.iso_currency_code, "USD")
        self.assertEqual(transfer.custom_tag, "deposit-42")
        self.assertEqual(dict(transfer.metadata.to_dict()), {"deposit": "42", "source": "sdk"})
        self.assertTrue(transfer.cancellable)
        self.assertIsNone(transfer.failure_reason)
        self.assertEqual(transfer.origination_account_id, ORIGINATION_ACCOUNT_ID)
        self.assertEqual(str(transfer.direction), "outbound")
        self.assertEqual(transfer.user.legal_name, "Ada Lovelace")
        self.assertEqual(len(transfer.user.routing_number), 9)
        self.assertIsInstance(transfer.created, datetime)
        self.assertLess(abs((transfer.created - start).total_seconds()), 60)

        got = self.client.bank_transfer_get(BankTransferGetRequest(bank_transfer_id=transfer.id)).bank_transfer
        self.assertEqual(got.to_dict(), transfer.to_dict())
        listed = self.client.bank_transfer_list(BankTransferListRequest(count=25)).bank_transfers
        self.assertEqual(listed[0].id, transfer.id, "newest first")

        self.simulate(transfer.id, "posted")
        self.simulate(
            transfer.id,
            "reversed",
            failure_reason=BankTransferFailure(ach_return_code="R01", description="Insufficient funds"),
        )
        reversed_ = self.client.bank_transfer_get(BankTransferGetRequest(bank_transfer_id=transfer.id)).bank_transfer
        self.assertEqual(str(reversed_.status), "reversed")
        self.assertFalse(reversed_.cancellable)
        self.assertEqual(reversed_.failure_reason.ach_return_code, "R01")
        self.assertEqual(reversed_.failure_reason.description, "Insufficient funds")
        with self.assertRaises(plaid.ApiException) as refused:
            self.simulate(transfer.id, "posted")
        self.assertEqual(refused.exception.status, 400)
        error = plaid_error(refused.exception)
        self.assertEqual(error["error_type"], "SANDBOX_ERROR")
        self.assertEqual(error["error_code"], "SANDBOX_BANK_TRANSFER_EVENT_TRANSITION_INVALID")

        listed = self.client.bank_transfer_event_list(
            BankTransferEventListRequest(bank_transfer_id=transfer.id)
        ).bank_transfer_events
        self.assertEqual([str(e.event_type) for e in listed], ["reversed", "posted", "pending"])
        only_reversed = self.client.bank_transfer_event_list(
            BankTransferEventListRequest(
                bank_transfer_id=transfer.id, event_types=[BankTransferEventType("reversed")], count=5, offset=0
            )
        ).bank_transfer_events
        self.assertEqual(len(only_reversed), 1)
        self.assertEqual(only_reversed[0].failure_reason.ach_return_code, "R01")

        synced = [e for e in self.sync_all(count=2) if e.bank_transfer_id == transfer.id]
        self.assertEqual([str(e.event_type) for e in synced], ["pending", "posted", "reversed"])
        ids = [e.event_id for e in synced]
        self.assertEqual(ids, sorted(ids))
        for event in synced:
            self.assertEqual(event.bank_transfer_amount, "12.34")
            self.assertEqual(event.bank_transfer_iso_currency_code, "USD")
            self.assertEqual(event.bank_transfer_type, BankTransferType("debit"))
            self.assertEqual(event.account_id, transfer.account_id)
            self.assertEqual(event.origination_account_id, ORIGINATION_ACCOUNT_ID)
            self.assertIsNone(event.receiver_details.available_balance)
            self.assertIsInstance(event.timestamp, datetime)
        self.assertEqual(synced[2].failure_reason.ach_return_code, "R01")
        # The cursor: nothing after the newest event, the rest after an older one.
        self.assertEqual(self.sync_all(after_id=ids[-1]), [])
        after_pending = self.sync_all(after_id=ids[0], count=25)
        self.assertEqual([e.event_id for e in after_pending][:2], ids[1:])

    def test_a_second_transfer_is_cancelled_once(self):
        token = self.processor_token()
        self.create(token, "debit", "3.00")
        credit = self.create(token, "credit", "4.00")
        answer = self.client.bank_transfer_cancel(BankTransferCancelRequest(bank_transfer_id=credit.id))
        self.assertTrue(answer.request_id)
        cancelled = self.client.bank_transfer_get(BankTransferGetRequest(bank_transfer_id=credit.id)).bank_transfer
        self.assertEqual(str(cancelled.status), "cancelled")
        self.assertFalse(cancelled.cancellable)
        with self.assertRaises(plaid.ApiException) as refused:
            self.client.bank_transfer_cancel(BankTransferCancelRequest(bank_transfer_id=credit.id))
        error = plaid_error(refused.exception)
        self.assertEqual(refused.exception.status, 400)
        self.assertEqual(error["error_type"], "BANK_TRANSFER_ERROR")
        self.assertEqual(error["error_code"], "BANK_TRANSFER_NOT_CANCELLABLE")
        events = self.client.bank_transfer_event_list(
            BankTransferEventListRequest(bank_transfer_id=credit.id)
        ).bank_transfer_events
        self.assertEqual([str(e.event_type) for e in events], ["cancelled", "pending"])

    def test_the_balance_follows_posted_debits_and_live_credits(self):
        token = self.processor_token()
        before = self.balance()
        debit = self.create(token, "debit", "50.00")
        self.assertEqual(self.balance(), before, "a pending debit does not count")
        self.simulate(debit.id, "posted")
        self.assertEqual(self.balance(), before + Decimal("50.00"))
        credit = self.create(token, "credit", "20.25")
        self.assertEqual(self.balance(), before + Decimal("29.75"), "a credit counts when created")
        self.simulate(credit.id, "failed")
        self.assertEqual(self.balance(), before + Decimal("50.00"), "a failed credit gives it back")
        answer = self.client.bank_transfer_balance_get(
            BankTransferBalanceGetRequest(origination_account_id=ORIGINATION_ACCOUNT_ID)
        )
        self.assertEqual(Decimal(answer.balance.available), before + Decimal("50.00"))

    def test_the_same_idempotency_key_returns_the_first_transfer_and_refuses_another_body(self):
        token = self.processor_token()
        key = str(uuid.uuid4())
        first = self.create(token, "debit", "7.00", key=key)
        again = self.create(token, "debit", "7.00", key=key)
        self.assertEqual(again.id, first.id)
        self.assertEqual(again.to_dict(), first.to_dict())
        with self.assertRaises(plaid.ApiException) as refused:
            self.create(token, "debit", "8.00", key=key)
        self.assertEqual(refused.exception.status, 400)
        error = plaid_error(refused.exception)
        # Reference §5 names no idempotency code for the legacy Bank Transfers API.
        self.assertEqual(error["error_type"], "INVALID_REQUEST")
        self.assertEqual(error["error_code"], "INVALID_FIELD")
        self.assertIn("idempotency_key", error["error_message"])
        self.assertIsNone(error["display_message"])
        self.assertTrue(error["request_id"])

    def test_webhook_verification_keys_and_an_unknown_kid(self):
        kid = control("GET", "/plaid/webhook")["key_id"]
        answer = self.client.webhook_verification_key_get(WebhookVerificationKeyGetRequest(key_id=kid))
        key = answer.key
        self.assertTrue(answer.request_id)
        self.assertEqual((key.alg, key.crv, key.kty, key.use, key.kid), ("ES256", "P-256", "EC", "sig", kid))
        self.assertIsInstance(key.created_at, int)
        self.assertIsNone(key.expired_at)
        for coordinate in (key.x, key.y):
            self.assertNotIn("=", coordinate)
            self.assertEqual(len(base64.urlsafe_b64decode(coordinate + "=")), 32)
        with self.assertRaises(plaid.ApiException) as refused:
            self.client.webhook_verification_key_get(WebhookVerificationKeyGetRequest(key_id=str(uuid.uuid4())))
        self.assertEqual(refused.exception.status, 400)
        error = plaid_error(refused.exception)
        self.assertEqual(error["error_type"], "INVALID_INPUT")
        self.assertEqual(error["error_code"], "INVALID_WEBHOOK_VERIFICATION_KEY_ID")

    def test_fire_webhook_sends_a_signed_webhook(self):
        answer = self.client.sandbox_bank_transfer_fire_webhook(
            SandboxBankTransferFireWebhookRequest(webhook=self.receiver.url)
        )
        self.assertTrue(answer.request_id)
        headers, body = self.receiver.next()
        self.verify_webhook(headers, body)
        with self.assertRaises(plaid.ApiException) as refused:
            self.client.sandbox_bank_transfer_fire_webhook(SandboxBankTransferFireWebhookRequest(webhook="not a url"))
        error = plaid_error(refused.exception)
        self.assertEqual(error["error_type"], "INVALID_REQUEST")
        self.assertEqual(error["error_code"], "INVALID_FIELD")

    def test_events_send_webhooks_signed_by_the_current_key_after_a_rotation(self):
        control("POST", "/plaid/webhook", {"url": self.receiver.url})
        try:
            token = self.processor_token()
            transfer = self.create(token, "debit", "2.00")
            headers, body = self.receiver.next()
            claims = self.verify_webhook(headers, body)
            self.assertEqual(set(claims), {"iat", "request_body_sha256"})
            old_kid = jwt.get_unverified_header(headers["plaid-verification"])["kid"]
            # The event is there for the sync the webhook asks for.
            events = self.client.bank_transfer_event_list(
                BankTransferEventListRequest(bank_transfer_id=transfer.id)
            ).bank_transfer_events
            self.assertEqual([str(e.event_type) for e in events], ["pending"])

            rotated = control("POST", "/plaid/webhook_key/rotate")
            self.assertEqual(rotated["expired_key_id"], old_kid)
            expired = self.client.webhook_verification_key_get(
                WebhookVerificationKeyGetRequest(key_id=old_kid)
            ).key
            self.assertIsInstance(expired.expired_at, int)
            self.simulate(transfer.id, "posted")
            headers, body = self.receiver.next()
            self.verify_webhook(headers, body)
            self.assertEqual(jwt.get_unverified_header(headers["plaid-verification"])["kid"], rotated["key_id"])
        finally:
            control("DELETE", "/plaid/webhook")
        # No URL, no webhook: a fire_webhook sent afterwards is the next thing to arrive.
        self.create(self.processor_token(), "debit", "2.00")
        self.client.sandbox_bank_transfer_fire_webhook(SandboxBankTransferFireWebhookRequest(webhook=self.receiver.url))
        self.receiver.next()
        time.sleep(0.2)
        self.assertTrue(self.receiver.nothing_pending())


if __name__ == "__main__":
    unittest.main()
