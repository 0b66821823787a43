"""What the risk checks read (DESIGN.md §7, §11), specified from the official SDKs: plaid-python
46.0.0 reads balances (/accounts/balance/get, /processor/balance/get), identities (/identity/get,
/processor/identity/get) and identity matches (/identity/match, /processor/identity/match), and gets
Plaid's error for a balance the bank cannot give; alpaca-py 0.44.0's BrokerClient reads the brokerage
account with its owner's name (GET /v1/accounts/{account_id}). The balances, owner names, the
unavailable balance and the account owner are set through the emulator's control API with plain HTTP
(POST /_sandbox/plaid/items/{item_id}, POST /_sandbox/accounts/{id}).

run_sdk.sh starts the standalone funding-sandbox binary and runs this module with
`python -m unittest`, with SANDBOX_PLAID_URL and SANDBOX_ALPACA_URL set.

SDK facts this relies on:
- plaid-python 46: /accounts/balance/get answers AccountsGetResponse; AccountIdentityMatchScore's
  legal_name, phone_number, email_address and address are NameMatchScore, PhoneNumberMatchScore, ...
  with _nullable = False and every key required (score nullable), so a score object is never null.
- alpaca-py 0.44: Account requires id, account_number, status, currency, last_equity, created_at;
  when present, contact needs email_address, street_address and city, identity needs given_name,
  family_name and country_of_tax_residence, disclosures needs immediate_family_exposed.
"""

import json
import os
import unittest
import uuid

import plaid
import requests
from alpaca.broker.client import BrokerClient
from alpaca.broker.models.accounts import Account
from plaid.api import plaid_api
from plaid.model.accounts_balance_get_request import AccountsBalanceGetRequest
from plaid.model.accounts_balance_get_request_options import AccountsBalanceGetRequestOptions
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.address_data_nullable_no_required_fields import (
    AddressDataNullableNoRequiredFields,
)
from plaid.model.identity_get_request import IdentityGetRequest
from plaid.model.identity_match_request import IdentityMatchRequest
from plaid.model.identity_match_user import IdentityMatchUser
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.processor_balance_get_request import ProcessorBalanceGetRequest
from plaid.model.processor_identity_get_request import ProcessorIdentityGetRequest
from plaid.model.processor_identity_match_request import ProcessorIdentityMatchRequest
from plaid.model.processor_token_create_request import ProcessorTokenCreateRequest
from plaid.model.products import Products
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest

PLAID_URL = os.environ.get("SANDBOX_PLAID_URL", "http://127.0.0.1:8701")
ALPACA_URL = os.environ.get("SANDBOX_ALPACA_URL", "http://127.0.0.1:8702")
# The credentials run_sdk.sh starts the standalone emulator with (it refuses any others).
CLIENT_ID = "sdk-test-client"
SECRET = "sdk-test-secret"
HTTP_TIMEOUT_S = 10.0
OWNER_NAME = "Alberta Bobbeth Charleson"


def control(method: str, path: str, body: dict | None = None):
    answer = requests.request(method, PLAID_URL + "/_sandbox" + path, json=body, timeout=HTTP_TIMEOUT_S)
    if answer.status_code >= 300:
        raise AssertionError(f"control {method} {path}: {answer.status_code} {answer.text}")
    return answer.json() if answer.text else None


class Linked:
    """A sandbox Item linked through plaid-python, with an Alpaca processor token on its checking account."""

    def __init__(self, client: plaid_api.PlaidApi):
        public_token = client.sandbox_public_token_create(
            SandboxPublicTokenCreateRequest(
                institution_id="ins_109508", initial_products=[Products("auth"), Products("identity")]
            )
        ).public_token
        exchanged = client.item_public_token_exchange(ItemPublicTokenExchangeRequest(public_token=public_token))
        self.access_token = exchanged.access_token
        self.item_id = exchanged.item_id
        accounts = client.accounts_get(AccountsGetRequest(access_token=self.access_token)).accounts
        self.checking_id = next(a.account_id for a in accounts if str(a.subtype) == "checking")
        self.savings_id = next(a.account_id for a in accounts if str(a.subtype) == "savings")
        self.processor_token = client.processor_token_create(
            ProcessorTokenCreateRequest(
                access_token=self.access_token, account_id=self.checking_id, processor="alpaca"
            )
        ).processor_token

    def set(self, **settings) -> dict:
        return control("POST", f"/plaid/items/{self.item_id}", settings)


class PlaidRiskSdkTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        configuration = plaid.Configuration(
            host=PLAID_URL,
            api_key={"clientId": CLIENT_ID, "secret": SECRET, "plaidVersion": "2020-09-14"},
        )
        cls.client = plaid_api.PlaidApi(plaid.ApiClient(configuration))

    def by_id(self, accounts, account_id):
        (account,) = [a for a in accounts if a.account_id == account_id]
        return account

    def test_balances_are_parsed_and_follow_the_control(self):
        linked = Linked(self.client)
        answer = self.client.accounts_balance_get(AccountsBalanceGetRequest(access_token=linked.access_token))
        checking = self.by_id(answer.accounts, linked.checking_id)
        self.assertEqual((checking.balances.available, checking.balances.current), (100, 110))
        self.assertEqual(checking.balances.iso_currency_code, "USD")
        self.assertEqual(answer.item.item_id, linked.item_id)
        self.assertTrue(answer.request_id)

        item = linked.set(available="120.00", current="130.00")
        self.assertEqual(item["accounts"][0]["available"], "120.00")
        linked.set(account_id=linked.savings_id, available=None, current=7.5)
        answer = self.client.accounts_balance_get(AccountsBalanceGetRequest(access_token=linked.access_token))
        checking = self.by_id(answer.accounts, linked.checking_id)
        self.assertEqual((checking.balances.available, checking.balances.current), (120, 130))
        savings = self.by_id(answer.accounts, linked.savings_id)
        self.assertIsNone(savings.balances.available, "an institution that reports no available balance")
        self.assertEqual(savings.balances.current, 7.5)

        only = self.client.accounts_balance_get(
            AccountsBalanceGetRequest(
                access_token=linked.access_token,
                options=AccountsBalanceGetRequestOptions(account_ids=[linked.checking_id]),
            )
        )
        self.assertEqual([a.account_id for a in only.accounts], [linked.checking_id])
        processor = self.client.processor_balance_get(
            ProcessorBalanceGetRequest(processor_token=linked.processor_token)
        )
        self.assertEqual(processor.account.account_id, linked.checking_id)
        self.assertEqual(processor.account.balances.available, 120)

    def test_an_unavailable_balance_is_plaids_institution_error(self):
        linked = Linked(self.client)
        self.assertTrue(linked.set(balance_unavailable=True)["balance_unavailable"])
        calls = [
            lambda: self.client.accounts_balance_get(AccountsBalanceGetRequest(access_token=linked.access_token)),
            lambda: self.client.processor_balance_get(
                ProcessorBalanceGetRequest(processor_token=linked.processor_token)
            ),
        ]
        for call in calls:
            with self.assertRaises(plaid.ApiException) as raised:
                call()
            self.assertEqual(raised.exception.status, 400)
            error = json.loads(raised.exception.body)
            self.assertEqual(error["error_type"], "INSTITUTION_ERROR")
            self.assertEqual(error["error_code"], "INSTITUTION_NOT_RESPONDING")
            self.assertTrue(error["request_id"])
            self.assertNotIn(linked.access_token, raised.exception.body)
        # Reads that fetch no balance still answer; and the balance comes back when told.
        self.client.identity_get(IdentityGetRequest(access_token=linked.access_token))
        linked.set(balance_unavailable=False)
        self.client.processor_balance_get(ProcessorBalanceGetRequest(processor_token=linked.processor_token))

    def test_identity_reads_carry_the_owner_names(self):
        linked = Linked(self.client)
        answer = self.client.identity_get(IdentityGetRequest(access_token=linked.access_token))
        self.assertEqual(len(answer.accounts), 2)
        self.assertEqual(answer.accounts[0].owners[0].names, [OWNER_NAME])
        linked.set(owner_names=["John Q Public", "Jane Q Public"])
        answer = self.client.identity_get(IdentityGetRequest(access_token=linked.access_token))
        self.assertEqual(answer.accounts[1].owners[0].names, ["John Q Public", "Jane Q Public"])
        processor = self.client.processor_identity_get(
            ProcessorIdentityGetRequest(processor_token=linked.processor_token)
        )
        self.assertEqual(processor.account.owners[0].names, ["John Q Public", "Jane Q Public"])

    def test_identity_match_scores_are_parsed(self):
        linked = Linked(self.client)
        answer = self.client.identity_match(
            IdentityMatchRequest(
                access_token=linked.access_token,
                user=IdentityMatchUser(
                    legal_name="Alberta Bobbeth Charleson",
                    phone_number="+11112223333",
                    email_address="accountholder0@example.com",
                    address=AddressDataNullableNoRequiredFields(
                        street="2992 Cameron Road", city="Malakoff", region="NY", postal_code="14236", country="US"
                    ),
                ),
            )
        )
        checking = self.by_id(answer.accounts, linked.checking_id)
        self.assertEqual(checking.legal_name.score, 100)
        self.assertTrue(checking.legal_name.is_first_name_or_last_name_match)
        self.assertFalse(checking.legal_name.is_nickname_match)
        self.assertFalse(checking.legal_name.is_business_name_detected)
        self.assertEqual(checking.phone_number.score, 100)
        self.assertEqual(checking.email_address.score, 100)
        self.assertEqual(checking.address.score, 100)
        self.assertTrue(checking.address.is_postal_code_match)

        linked.set(owner_names=["John Q Public"])
        mismatch = self.client.processor_identity_match(
            ProcessorIdentityMatchRequest(
                processor_token=linked.processor_token, user=IdentityMatchUser(legal_name="Alberta Charleson")
            )
        )
        self.assertLess(mismatch.account.legal_name.score, 70)
        self.assertIsNone(mismatch.account.phone_number.score, "nothing given, nothing scored")
        linked.set(owner_names=["Alberta B. Charleson"])
        partial = self.client.processor_identity_match(
            ProcessorIdentityMatchRequest(
                processor_token=linked.processor_token, user=IdentityMatchUser(legal_name="Alberta Charleson")
            )
        )
        self.assertGreaterEqual(partial.account.legal_name.score, 70)
        nothing = self.client.processor_identity_match(
            ProcessorIdentityMatchRequest(processor_token=linked.processor_token)
        )
        self.assertIsNone(nothing.account.legal_name.score)
        self.assertIsNone(nothing.account.address.is_postal_code_match)

    def test_a_bad_token_is_plaids_invalid_input(self):
        for call, code in [
            (
                lambda: self.client.accounts_balance_get(AccountsBalanceGetRequest(access_token="access-sandbox-x")),
                "INVALID_ACCESS_TOKEN",
            ),
            (
                lambda: self.client.identity_match(IdentityMatchRequest(access_token="access-sandbox-x")),
                "INVALID_ACCESS_TOKEN",
            ),
            (
                lambda: self.client.processor_identity_match(
                    ProcessorIdentityMatchRequest(processor_token="processor-sandbox-x")
                ),
                "INVALID_PROCESSOR_TOKEN",
            ),
        ]:
            with self.assertRaises(plaid.ApiException) as raised:
                call()
            self.assertEqual(json.loads(raised.exception.body)["error_code"], code)


class AlpacaRiskSdkTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = BrokerClient(
            api_key="sdk-test-key", secret_key="sdk-test-secret", sandbox=True, url_override=ALPACA_URL
        )

    def test_the_account_carries_its_owners_name(self):
        account_id = uuid.uuid4()
        account = self.client.get_account_by_id(account_id)
        self.assertIsInstance(account, Account)
        self.assertEqual(account.id, account_id)
        self.assertEqual(account.status, "ACTIVE")
        self.assertEqual((account.identity.given_name, account.identity.family_name), ("Alberta Bobbeth", "Charleson"))
        self.assertEqual(account.contact.email_address, "accountholder0@example.com")

        answer = control("POST", f"/accounts/{account_id}", {"owner_name": "John Q Public"})
        self.assertEqual(answer["owner_name"], "John Q Public")
        account = self.client.get_account_by_id(str(account_id))
        self.assertEqual((account.identity.given_name, account.identity.family_name), ("John Q", "Public"))
        control("POST", f"/accounts/{account_id}", {"given_name": "Mary", "family_name": "Smith Jones"})
        self.assertEqual(self.client.get_account_by_id(account_id).identity.family_name, "Smith Jones")


if __name__ == "__main__":
    unittest.main()
