"""Plaid Link tokens and Item health on the emulator, specified from plaid-python 46.0.0.

run_sdk.sh runs this module like sdk_plaid.py (SANDBOX_PLAID_URL set). Every Plaid call goes
through plaid-python's PlaidApi, whose models check each answer: /link/token/create (new and
update mode), /sandbox/item/reset_login, /item/get with item.error, /sandbox/item/fire_webhook,
and the ITEM_LOGIN_REQUIRED error. The Item webhooks the emulator sends are verified like
sdk_plaid.py's and parsed with plaid-python's own webhook models (ItemErrorWebhook,
PendingExpirationWebhook, ...). The Link session itself is completed through the control API
(POST /_sandbox/plaid/link/complete); browser_link.py clicks through the real page.
"""

import json
import unittest
from datetime import datetime, timedelta

import plaid
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.country_code import CountryCode
from plaid.model.item_error_webhook import ItemErrorWebhook
from plaid.model.item_get_request import ItemGetRequest
from plaid.model.item_login_repaired_webhook import ItemLoginRepairedWebhook
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.link_token_create_request import LinkTokenCreateRequest
from plaid.model.link_token_create_request_update import LinkTokenCreateRequestUpdate
from plaid.model.link_token_create_request_user import LinkTokenCreateRequestUser
from plaid.model.new_accounts_available_webhook import NewAccountsAvailableWebhook
from plaid.model.pending_disconnect_webhook import PendingDisconnectWebhook
from plaid.model.pending_expiration_webhook import PendingExpirationWebhook
from plaid.model.products import Products
from plaid.model.sandbox_item_fire_webhook_request import SandboxItemFireWebhookRequest
from plaid.model.sandbox_item_reset_login_request import SandboxItemResetLoginRequest
from plaid.model.user_account_revoked_webhook import UserAccountRevokedWebhook
from plaid.model.user_permission_revoked_webhook import UserPermissionRevokedWebhook
from plaid.model.webhook_type import WebhookType
from plaid.model.webhook_update_acknowledged_webhook import WebhookUpdateAcknowledgedWebhook
from plaid.model_utils import validate_and_convert_types

from sdk_plaid import WebhookReceiver, control, make_client, plaid_error

INSTITUTION = "ins_109508"

# The SDK's model for each Item webhook code.
WEBHOOK_MODELS = {
    "ERROR": ItemErrorWebhook,
    "LOGIN_REPAIRED": ItemLoginRepairedWebhook,
    "NEW_ACCOUNTS_AVAILABLE": NewAccountsAvailableWebhook,
    "PENDING_DISCONNECT": PendingDisconnectWebhook,
    "PENDING_EXPIRATION": PendingExpirationWebhook,
    "USER_PERMISSION_REVOKED": UserPermissionRevokedWebhook,
    "USER_ACCOUNT_REVOKED": UserAccountRevokedWebhook,
    "WEBHOOK_UPDATE_ACKNOWLEDGED": WebhookUpdateAcknowledgedWebhook,
}


def emulator_now() -> datetime:
    """The emulator's clock (other modules move it forward)."""
    now = control("GET", "/clock")["now"]  # RFC 3339, up to nanoseconds, "Z"
    whole, _, fraction = now.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{whole}.{(fraction or '0')[:6]:0<6}+00:00")


class LinkAndItemHealth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = make_client()
        cls.receiver = WebhookReceiver()

    @classmethod
    def tearDownClass(cls):
        cls.receiver.close()

    def token_request(self, **extra) -> LinkTokenCreateRequest:
        return LinkTokenCreateRequest(
            client_name="Funding SDK test",
            language="en",
            country_codes=[CountryCode("US")],
            user=LinkTokenCreateRequestUser(client_user_id="sdk-user-1"),
            **extra,
        )

    def link(self) -> tuple[str, str]:
        """A Link session with a webhook: (access_token, item_id)."""
        created = self.client.link_token_create(
            self.token_request(products=[Products("auth")], webhook=self.receiver.url)
        )
        success = control("POST", "/plaid/link/complete", {"link_token": created.link_token})
        exchanged = self.client.item_public_token_exchange(
            ItemPublicTokenExchangeRequest(public_token=success["public_token"])
        )
        self.assertEqual(exchanged.item_id, success["item_id"])
        return exchanged.access_token, exchanged.item_id

    def parse_webhook(self, expected_code: str):
        """The next webhook, as plaid-python's model for its code (which checks every field)."""
        headers, body = self.receiver.next()
        self.assertIn("plaid-verification", headers)
        data = json.loads(body)
        self.assertEqual(data["webhook_type"], "ITEM")
        self.assertEqual(data["webhook_code"], expected_code)
        model = WEBHOOK_MODELS[expected_code]
        return validate_and_convert_types(
            data, (model,), ["webhook"], True, True, configuration=self.client.api_client.configuration
        )

    def test_a_link_token_is_made_and_lasts_four_hours(self):
        before = emulator_now()
        created = self.client.link_token_create(
            self.token_request(
                products=[Products("auth"), Products("identity")],
                redirect_uri="https://app.example.com/plaid/oauth",
            )
        )
        self.assertTrue(created.link_token.startswith("link-sandbox-"))
        self.assertIsInstance(created.expiration, datetime)
        self.assertAlmostEqual((created.expiration - before) / timedelta(hours=1), 4.0, delta=0.05)
        self.assertTrue(created.request_id)
        listed = [t for t in control("GET", "/plaid/link_tokens") if t["link_token"] == created.link_token]
        self.assertEqual(listed[0]["products"], ["auth", "identity"])
        self.assertEqual(listed[0]["redirect_uri"], "https://app.example.com/plaid/oauth")

    def test_a_bad_link_token_request_names_the_field(self):
        with self.assertRaises(plaid.ApiException) as refused:
            self.client.link_token_create(self.token_request())
        self.assertEqual(refused.exception.status, 400)
        error = plaid_error(refused.exception)
        self.assertEqual(error["error_type"], "INVALID_REQUEST")
        self.assertEqual(error["error_code"], "MISSING_FIELDS")
        self.assertIn("products", error["error_message"])

    def test_reset_login_then_update_mode_repairs_the_item(self):
        access_token, item_id = self.link()
        answer = self.client.sandbox_item_reset_login(SandboxItemResetLoginRequest(access_token=access_token))
        self.assertTrue(answer.reset_login)
        webhook = self.parse_webhook("ERROR")
        self.assertEqual(webhook.item_id, item_id)
        self.assertEqual(webhook.error.error_code, "ITEM_LOGIN_REQUIRED")
        self.assertEqual(str(webhook.error.error_type), "ITEM_ERROR")

        item = self.client.item_get(ItemGetRequest(access_token=access_token)).item
        self.assertEqual(item.item_id, item_id)
        self.assertEqual(item.error.error_code, "ITEM_LOGIN_REQUIRED")
        with self.assertRaises(plaid.ApiException) as refused:
            self.client.accounts_get(AccountsGetRequest(access_token=access_token))
        self.assertEqual(refused.exception.status, 400)
        self.assertEqual(plaid_error(refused.exception)["error_code"], "ITEM_LOGIN_REQUIRED")

        update = self.client.link_token_create(
            self.token_request(
                access_token=access_token,
                update=LinkTokenCreateRequestUpdate(account_selection_enabled=False),
            )
        )
        self.assertAlmostEqual(
            (update.expiration - emulator_now()) / timedelta(minutes=1), 30, delta=1
        )
        control("POST", "/plaid/link/complete", {"link_token": update.link_token})
        item = self.client.item_get(ItemGetRequest(access_token=access_token)).item
        self.assertIsNone(item.error)
        self.assertEqual(len(self.client.accounts_get(AccountsGetRequest(access_token=access_token)).accounts), 1)

    def test_fire_webhook_sends_item_webhooks_the_sdk_parses(self):
        access_token, item_id = self.link()
        for code in ["NEW_ACCOUNTS_AVAILABLE", "LOGIN_REPAIRED", "PENDING_DISCONNECT",
                     "USER_PERMISSION_REVOKED", "USER_ACCOUNT_REVOKED", "ERROR"]:
            answer = self.client.sandbox_item_fire_webhook(
                SandboxItemFireWebhookRequest(
                    access_token=access_token, webhook_type=WebhookType("ITEM"), webhook_code=code
                )
            )
            self.assertTrue(answer.webhook_fired)
            webhook = self.parse_webhook(code)
            self.assertEqual(webhook.item_id, item_id)
        # The two Item webhooks /sandbox/item/fire_webhook cannot send, through the control API.
        for code in ["PENDING_EXPIRATION", "WEBHOOK_UPDATE_ACKNOWLEDGED"]:
            control("POST", f"/plaid/items/{item_id}/webhook", {"webhook_code": code})
            webhook = self.parse_webhook(code)
            self.assertEqual(webhook.item_id, item_id)
        with self.assertRaises(plaid.ApiException) as refused:
            self.client.sandbox_item_fire_webhook(
                SandboxItemFireWebhookRequest(access_token=access_token, webhook_code="SYNC_UPDATES_AVAILABLE")
            )
        error = plaid_error(refused.exception)
        self.assertEqual(error["error_type"], "SANDBOX_ERROR")
        self.assertEqual(error["error_code"], "SANDBOX_PRODUCT_NOT_ENABLED")


if __name__ == "__main__":
    unittest.main()
