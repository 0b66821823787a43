"""The emulator's switchable provider behaviours (DESIGN.md §7), read through the official SDKs
(alpaca-py 0.44.0, plaid-python 46.0.0): every answer they produce must still parse.

run_sdk.sh runs this module after sdk_alpaca and sdk_plaid, against the same standalone binary, started
with credentials (--plaid-client-id/--plaid-secret/--alpaca-key-id/--alpaca-secret). Each test turns a
behaviour on through the control API and turns everything off again afterwards.

alpaca-py 0.44 facts this relies on:
- Transfer has requested_amount, fee (str) and fee_payment_method (FeePaymentMethod user|invoice).
- TransferStatus includes SETTLED.
- TradeAccount (get_trade_account_by_id) has cash, cash_withdrawable and pending_transfer_out (str).
- get_transfers_for_account pages by offset += len(page) until an empty page.
- Its REST client retries a 429 or a 504 (DEFAULT_RETRY_EXCEPTION_CODES), POSTs included, after 3 s.
"""

import json
import unittest
import uuid

import plaid
import requests
from alpaca.broker.client import BrokerClient
from alpaca.broker.enums import FeePaymentMethod, TransferDirection, TransferStatus, TransferTiming
from alpaca.broker.models.accounts import TradeAccount
from alpaca.broker.requests import CreateACHTransferRequest, CreatePlaidRelationshipRequest
from alpaca.common.exceptions import APIError
from plaid.api import plaid_api
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.products import Products
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest

from sdk_alpaca import ALPACA_URL, PLAID_URL, PlaidAccount, control, eventually
from sdk_plaid import make_client, plaid_error

KEY_ID = "sdk-test-key"
KEY_SECRET = "sdk-test-secret"
DEFAULT_SETTINGS = {"ach_fee": "0", "cash_withdrawable": "net", "list_page_cap": None, "settled_after_complete_ms": None}


def broker(secret: str = KEY_SECRET) -> BrokerClient:
    return BrokerClient(api_key=KEY_ID, secret_key=secret, sandbox=True, url_override=ALPACA_URL)


class AlpacaBehavioursTest(unittest.TestCase):
    def setUp(self):
        self.client = broker()
        self.delays = control("GET", "/delays")

    def tearDown(self):
        self.assertEqual(control("POST", "/alpaca/settings", DEFAULT_SETTINGS), DEFAULT_SETTINGS)
        control("DELETE", "/faults")
        control("POST", "/delays", self.delays)

    def approved_link(self, account_id: uuid.UUID) -> uuid.UUID:
        bank = PlaidAccount("checking")
        relationship = self.client.create_ach_relationship_for_account(
            account_id, CreatePlaidRelationshipRequest(processor_token=bank.processor_token)
        )
        eventually(
            "APPROVED",
            lambda: any(
                r.id == relationship.id and r.status == "APPROVED"
                for r in self.client.get_ach_relationships_for_account(account_id)
            ),
        )
        return relationship.id

    def create(self, account_id: uuid.UUID, relationship_id: uuid.UUID, amount: str, direction: TransferDirection):
        return self.client.create_transfer_for_account(
            account_id,
            CreateACHTransferRequest(
                amount=amount, direction=direction, timing=TransferTiming.IMMEDIATE, relationship_id=relationship_id
            ),
        )

    def find(self, account_id: uuid.UUID, transfer_id: uuid.UUID):
        return next((t for t in self.client.get_transfers_for_account(account_id) if t.id == transfer_id), None)

    def test_a_transfer_with_a_fee_is_parsed_with_requested_amount_fee_and_net_amount(self):
        account_id = uuid.uuid4()
        relationship_id = self.approved_link(account_id)
        control("POST", "/alpaca/settings", {"ach_fee": "2"})
        deposit = self.create(account_id, relationship_id, "500", TransferDirection.INCOMING)
        self.assertEqual(deposit.requested_amount, "500")
        self.assertEqual(deposit.fee, "2")
        self.assertEqual(deposit.amount, "498")
        self.assertEqual(deposit.fee_payment_method, FeePaymentMethod.USER)
        eventually("COMPLETE", lambda: (t := self.find(account_id, deposit.id)) and t.status == TransferStatus.COMPLETE)
        self.assertEqual(self.client.get_trade_account_by_id(account_id).cash, "498")

    def test_the_trade_account_reports_pending_transfer_out_net_and_gross(self):
        account_id = uuid.uuid4()
        relationship_id = self.approved_link(account_id)
        control("POST", f"/accounts/{account_id}", {"cash": "100"})
        control("POST", "/delays", {"transfer_step_delay_ms": 3_600_000})
        withdrawal = self.create(account_id, relationship_id, "30", TransferDirection.OUTGOING)
        account = self.client.get_trade_account_by_id(account_id)
        self.assertIsInstance(account, TradeAccount)
        self.assertEqual((account.cash, account.cash_withdrawable, account.pending_transfer_out), ("100", "70", "30"))

        control("POST", "/alpaca/settings", {"cash_withdrawable": "gross"})
        account = self.client.get_trade_account_by_id(account_id)
        self.assertEqual((account.cash, account.cash_withdrawable, account.pending_transfer_out), ("100", "100", "30"))
        # Gross: an overdrawing withdrawal is accepted, then REJECTED at its next step.
        overdraw = self.create(account_id, relationship_id, "90", TransferDirection.OUTGOING)
        self.assertEqual(overdraw.status, TransferStatus.QUEUED)
        control("POST", "/clock/advance", {"seconds": 3600})
        rejected = eventually(
            "REJECTED",
            lambda: (t := self.find(account_id, overdraw.id)) and t.status == TransferStatus.REJECTED and t,
        )
        self.assertEqual(rejected.reason, "R01 insufficient funds")
        self.assertEqual(self.find(account_id, withdrawal.id).status, TransferStatus.SENT_TO_CLEARING)

    def test_a_settled_transfer_is_parsed(self):
        account_id = uuid.uuid4()
        relationship_id = self.approved_link(account_id)
        control("POST", "/alpaca/settings", {"settled_after_complete_ms": 100})
        deposit = self.create(account_id, relationship_id, "40", TransferDirection.INCOMING)
        settled = eventually(
            "SETTLED", lambda: (t := self.find(account_id, deposit.id)) and t.status == TransferStatus.SETTLED and t
        )
        self.assertEqual(settled.amount, "40")

    def test_the_sdk_pages_through_a_page_cap(self):
        account_id = uuid.uuid4()
        relationship_id = self.approved_link(account_id)
        created = [self.create(account_id, relationship_id, str(n), TransferDirection.INCOMING).id for n in (1, 2, 3)]
        control("POST", "/alpaca/settings", {"list_page_cap": 1})
        raw = requests.get(
            f"{ALPACA_URL}/v1/accounts/{account_id}/transfers?limit=100", auth=(KEY_ID, KEY_SECRET), timeout=10
        ).json()
        self.assertEqual(len(raw), 1)
        listed = self.client.get_transfers_for_account(account_id)
        self.assertEqual([t.id for t in listed], list(reversed(created)))

    def test_a_fault_with_alpacas_own_body_is_an_api_error(self):
        account_id = uuid.uuid4()
        relationship_id = self.approved_link(account_id)
        message = "withdrawals are not permitted for this account"
        control(
            "POST",
            "/faults",
            {
                "host": "alpaca",
                "method": "POST",
                "path_prefix": f"/v1/accounts/{account_id}/transfers",
                "status": 403,
                "body": {"code": 40310000, "message": message},
            },
        )
        with self.assertRaises(APIError) as raised:
            self.create(account_id, relationship_id, "5", TransferDirection.OUTGOING)
        self.assertEqual((raised.exception.status_code, raised.exception.code), (403, 40310000))
        self.assertEqual(raised.exception.message, message)

    def test_a_late_effect_is_an_api_error_now_and_a_transfer_later(self):
        account_id = uuid.uuid4()
        relationship_id = self.approved_link(account_id)
        path = f"/v1/accounts/{account_id}/transfers"
        fault = {"host": "alpaca", "method": "POST", "path_prefix": path, "mode": "late_effect", "delay_ms": 500}
        control("POST", "/faults", {**fault, "status": 500})
        with self.assertRaises(APIError) as raised:
            self.create(account_id, relationship_id, "7", TransferDirection.INCOMING)
        self.assertEqual(raised.exception.status_code, 500)
        self.assertEqual(self.client.get_transfers_for_account(account_id), [])
        (late,) = eventually("the late transfer", lambda: self.client.get_transfers_for_account(account_id))
        self.assertEqual(late.amount, "7")

        # No answer at all: requests' own connection error, not an APIError.
        control("POST", "/faults", {**fault, "status": 0})
        with self.assertRaises(requests.exceptions.ConnectionError):
            self.create(account_id, relationship_id, "8", TransferDirection.INCOMING)
        eventually("the second late transfer", lambda: len(self.client.get_transfers_for_account(account_id)) == 2)

    def test_alpaca_py_retries_a_504_on_create_so_a_late_effect_makes_two_transfers(self):
        """alpaca-py retries 429 and 504 even on POST /transfers, which has no idempotency key: when
        Alpaca did act on the first request (its effect landing late), the retry makes a second
        transfer. A caller must not rely on the SDK's retry for creates."""
        account_id = uuid.uuid4()
        relationship_id = self.approved_link(account_id)
        control(
            "POST",
            "/faults",
            {
                "host": "alpaca",
                "method": "POST",
                "path_prefix": f"/v1/accounts/{account_id}/transfers",
                "status": 504,
                "mode": "late_effect",
                "delay_ms": 200,
            },
        )
        answered = self.create(account_id, relationship_id, "9", TransferDirection.INCOMING)
        self.assertEqual(answered.amount, "9")
        listed = eventually("two transfers", lambda: len(self.client.get_transfers_for_account(account_id)) == 2)
        self.assertTrue(listed)

    def test_wrong_alpaca_credentials_are_a_401_api_error(self):
        with self.assertRaises(APIError) as raised:
            broker("not-the-secret").get_transfers_for_account(uuid.uuid4())
        self.assertEqual(raised.exception.status_code, 401)
        self.assertEqual(raised.exception.code, 40110000)
        self.assertEqual(raised.exception.message, "request is not authorized")


class PlaidBehavioursTest(unittest.TestCase):
    def tearDown(self):
        control("DELETE", "/faults")

    def test_a_fault_with_plaids_own_body_is_an_api_exception_whose_body_decodes(self):
        given = {
            "error_type": "API_ERROR",
            "error_code": "PLANNED_MAINTENANCE",
            "error_message": "the Plaid API is temporarily unavailable due to planned maintenance",
            "display_message": None,
        }
        control("POST", "/faults", {"host": "plaid", "path_prefix": "/accounts/get", "status": 503, "body": given})
        with self.assertRaises(plaid.ApiException) as raised:
            make_client().accounts_get(AccountsGetRequest(access_token="access-sandbox-x"))
        self.assertEqual(raised.exception.status, 503)
        body = plaid_error(raised.exception)
        self.assertEqual({k: body[k] for k in given}, given)
        self.assertEqual(len(body["request_id"]), 15)

    def test_wrong_plaid_credentials_are_invalid_api_keys(self):
        configuration = plaid.Configuration(
            host=PLAID_URL,
            api_key={"clientId": "sdk-test-client", "secret": "not-the-secret", "plaidVersion": "2020-09-14"},
        )
        client = plaid_api.PlaidApi(plaid.ApiClient(configuration))
        request = SandboxPublicTokenCreateRequest(institution_id="ins_109508", initial_products=[Products("auth")])
        with self.assertRaises(plaid.ApiException) as raised:
            client.sandbox_public_token_create(request)
        self.assertEqual(raised.exception.status, 400)
        body = json.loads(raised.exception.body)
        self.assertEqual((body["error_type"], body["error_code"]), ("INVALID_INPUT", "INVALID_API_KEYS"))
        self.assertEqual(body["error_message"], "invalid client_id or secret provided")
        # The right ones pass.
        self.assertTrue(make_client().sandbox_public_token_create(request).public_token)

    def test_a_late_plaid_effect_is_an_api_exception_now(self):
        client = make_client()
        request = SandboxPublicTokenCreateRequest(institution_id="ins_109508", initial_products=[Products("auth")])
        before = len(control("GET", "/plaid/tokens")["access_tokens"])
        public_token = client.sandbox_public_token_create(request).public_token
        control(
            "POST",
            "/faults",
            {"host": "plaid", "path_prefix": "/item/public_token/exchange", "status": 500, "mode": "late_effect",
             "delay_ms": 300},
        )
        with self.assertRaises(plaid.ApiException) as raised:
            client.item_public_token_exchange(ItemPublicTokenExchangeRequest(public_token=public_token))
        self.assertEqual(plaid_error(raised.exception)["error_code"], "INTERNAL_SERVER_ERROR")
        eventually("the late exchange", lambda: len(control("GET", "/plaid/tokens")["access_tokens"]) > before)


if __name__ == "__main__":
    unittest.main()
