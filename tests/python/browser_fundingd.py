"""Plaid Link in a real browser with the link token from fundingd, and the bank link made with what
Link gave: the whole front-end flow of DESIGN §5/§7 against the real fundingd binary in sandbox mode.

run.sh starts fundingd, reads the in-process emulator's Plaid base URL from fundingd's startup line
("… in SANDBOX mode (emulated Plaid at http://127.0.0.1:PORT, …)") and runs this module with
FUNDINGD_ADDR, FUNDINGD_PLAID_URL and the stubs generated from proto/ on PYTHONPATH. Before that it
installs Debian's chromium and chromium-driver when missing (lib.sh's ensure_chromium, which exports
SANDBOX_CHROMIUM and SANDBOX_CHROMEDRIVER); where apt-get cannot be used it exports
SANDBOX_BROWSER_SKIP with the reason, says so loudly, and these tests are skipped with that reason.

A front end on its own origin (a local HTTP server, FrontEnd) loads the emulator's
/link/v2/stable/link-initialize.js and opens Link with a token that the test, as the front end's back
end, got from BankLinkService.CreateLinkToken over gRPC; the test clicks through the Link page by its
documented element ids (docs/sandbox.md) and reads the callbacks the page recorded; then, as the back
end again, it calls CreateBankLink with onSuccess's public token and account id and polls GetBankLink.
The emulator's control API (/_sandbox/plaid/link_tokens on the same Plaid listener) shows what
fundingd asked Plaid for and which public tokens Link made. Waits are bounded polls.
"""

import hashlib
import json
import os
import time
import unittest
import urllib.request
import uuid
from urllib.parse import parse_qs, quote, urlparse

import grpc
from funding.v1 import bank_link_pb2

from browser_front_end import FrontEnd, start_chromium
from e2e import CALL_TIMEOUT_S, Client, Status

ADDRESS = os.environ.get("FUNDINGD_ADDR", "127.0.0.1:50051")
PLAID_URL = os.environ.get("FUNDINGD_PLAID_URL", "")
SKIP = os.environ.get("SANDBOX_BROWSER_SKIP")
WAIT_S = 20

FIRST_PLATYPUS = {"name": "First Platypus Bank", "institution_id": "ins_109508"}
Health = bank_link_pb2.BankLinkHealth


def expected_client_user_id(account_id: str) -> str:
    """What fundingd sends Plaid for an account (funding-core's client_user_id): never the raw id."""
    digest = hashlib.sha256(b"funding.v1/plaid-client-user-id\0" + account_id.encode()).hexdigest()
    return digest[:32]


@unittest.skipIf(SKIP, f"no browser: {SKIP}")
class LinkThroughFundingd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not PLAID_URL.startswith("http://"):
            raise AssertionError(f"FUNDINGD_PLAID_URL is not the emulator's base URL: {PLAID_URL!r}")
        cls.channel = grpc.insecure_channel(ADDRESS)
        grpc.channel_ready_future(cls.channel).result(timeout=CALL_TIMEOUT_S)
        cls.front_end = FrontEnd(PLAID_URL)
        cls.driver = start_chromium()

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()
        cls.front_end.close()
        cls.channel.close()

    def setUp(self):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as EC
        from selenium.webdriver.support.ui import WebDriverWait

        self.By, self.EC = By, EC
        self.wait = WebDriverWait(self.driver, WAIT_S)
        self.driver.switch_to.default_content()
        self.client = Client(self, self.channel)

    # --- the back end: fundingd over gRPC -------------------------------------------------------

    def create_link_token(self, account_id: str, **extra) -> str:
        answer = self.client.call(
            self.client.links.CreateLinkToken,
            bank_link_pb2.CreateLinkTokenRequest(account_id=account_id, **extra),
        )
        self.assertTrue(answer.link_token.startswith("link-sandbox-"), answer.link_token)
        self.assertGreater(answer.expiration.seconds, time.time(), "the link token is already expired")
        return answer.link_token

    def links_of(self, account_id: str) -> list:
        return list(self.client.call(
            self.client.links.ListBankLinks, bank_link_pb2.ListBankLinksRequest(account_id=account_id)
        ).bank_links)

    def link_and_wait_for_approval(self, account_id: str, public_token: str, plaid_account_id: str):
        """CreateBankLink with what Link gave, then GetBankLink until APPROVED; the approved link."""
        created = self.client.create_link(
            account_id, public_token, plaid_account_id, "Linked in a browser", str(uuid.uuid4())
        )
        self.assertTrue(uuid.UUID(created.id))
        self.assertEqual(account_id, created.account_id)
        self.assertEqual(plaid_account_id, created.plaid_account_id)
        self.assertIn(created.status, (Status.BANK_LINK_STATUS_CREATING, Status.BANK_LINK_STATUS_QUEUED,
                                       Status.BANK_LINK_STATUS_APPROVED),
                      f"CreateBankLink answered {created}")

        approved = self.client.wait_for_status(created.id, Status.BANK_LINK_STATUS_APPROVED)
        self.assertEqual(plaid_account_id, approved.plaid_account_id)
        self.assertEqual(account_id, approved.account_id)
        self.assertTrue(uuid.UUID(approved.ach_relationship_id))
        self.assertEqual(Health.Name(Health.BANK_LINK_HEALTH_HEALTHY), Health.Name(approved.health))
        self.assertEqual([created.id], [link.id for link in self.links_of(account_id)])
        return approved

    # --- the emulator's record of what fundingd asked Plaid for ---------------------------------

    def emulator_link_token(self, link_token: str) -> dict:
        with urllib.request.urlopen(f"{PLAID_URL}/_sandbox/plaid/link_tokens", timeout=CALL_TIMEOUT_S) as answer:
            tokens = json.load(answer)
        found = [t for t in tokens if t["link_token"] == link_token]
        self.assertEqual(1, len(found), f"the emulator does not know {link_token}: {tokens}")
        return found[0]

    def assert_asked_for_as_designed(self, snapshot: dict, account_id: str):
        """DESIGN §5: auth, a client_user_id derived from (not equal to) the account id, the webhook."""
        self.assertIn("auth", snapshot["products"])
        self.assertEqual(expected_client_user_id(account_id), snapshot["client_user_id"])
        self.assertNotIn(account_id, json.dumps(snapshot), "the Alpaca account id reached Plaid")
        self.assertTrue((snapshot["webhook"] or "").startswith("http://127.0.0.1:"),
                        f"fundingd's webhook listener is not the token's webhook: {snapshot['webhook']}")
        self.assertIsNone(snapshot["update_item_id"])

    # --- the browser ----------------------------------------------------------------------------

    def click(self, element_id: str):
        self.wait.until(self.EC.element_to_be_clickable((self.By.ID, element_id))).click()

    def type_into(self, element_id: str, text: str):
        field = self.wait.until(self.EC.visibility_of_element_located((self.By.ID, element_id)))
        field.clear()
        field.send_keys(text)

    def open_link(self, token: str):
        """Loads the front end with the token, waits for onLoad, opens Link, enters its iframe."""
        self.driver.get(f"{self.front_end.url}/?token={quote(token)}")
        self.wait.until(lambda d: d.execute_script("return window.linkResults.loaded"))
        self.click("open-link")
        frame = self.wait.until(self.EC.visibility_of_element_located(
            (self.By.CSS_SELECTOR, "iframe[id^='plaid-link-iframe-']")))
        self.driver.switch_to.frame(frame)

    def log_in(self, username: str, password: str):
        self.type_into("username", username)
        self.type_into("password", password)
        self.click("credentials-submit")

    def pick_checking(self):
        self.click("account-checking")
        self.click("accounts-submit")

    def result(self, kind: str) -> dict:
        """Waits in the front end for onSuccess ("success") or onExit ("exit")."""
        self.driver.switch_to.default_content()
        return self.wait.until(lambda d: d.execute_script(f"return window.linkResults.{kind}"))

    def event_names(self) -> list:
        return self.driver.execute_script("return window.linkResults.events.map(e => e.eventName)")

    # --- the tests ------------------------------------------------------------------------------

    def test_link_with_a_token_from_fundingd_then_create_bank_link_is_approved(self):
        account_id = str(uuid.uuid4())
        token = self.create_link_token(account_id)
        self.assert_asked_for_as_designed(self.emulator_link_token(token), account_id)

        self.open_link(token)
        self.click("institution-ins_109508")
        self.log_in("user_good", "pass_good")
        self.pick_checking()

        success = self.result("success")
        public_token, metadata = success["public_token"], success["metadata"]
        self.assertTrue(public_token.startswith("public-sandbox-"), public_token)
        self.assertEqual(public_token, metadata["public_token"])
        self.assertEqual(FIRST_PLATYPUS, metadata["institution"])
        self.assertEqual(1, len(metadata["accounts"]), metadata["accounts"])
        checking = metadata["accounts"][0]
        self.assertEqual(("Plaid Checking", "0000", "depository", "checking"),
                         (checking["name"], checking["mask"], checking["type"], checking["subtype"]))
        self.assertTrue(checking["id"])
        self.assertEqual(checking["id"], metadata["account_id"])
        self.assertEqual(checking, metadata["account"])
        self.assertTrue(metadata["link_session_id"])
        names = self.event_names()
        for name in ["OPEN", "SELECT_INSTITUTION", "SUBMIT_CREDENTIALS", "HANDOFF"]:
            self.assertIn(name, names)
        self.assertLess(names.index("SUBMIT_CREDENTIALS"), names.index("HANDOFF"))
        self.assertIsNone(self.driver.execute_script("return window.linkResults.exit"))
        self.assertEqual([public_token], self.emulator_link_token(token)["public_tokens"])

        self.link_and_wait_for_approval(account_id, public_token, metadata["account_id"])

    def test_user_bad_exits_with_plaids_error_shape_and_no_link_is_made(self):
        account_id = str(uuid.uuid4())
        token = self.create_link_token(account_id)

        self.open_link(token)
        self.click("institution-ins_109508")
        self.log_in("user_bad", "pass_good")
        shown = self.wait.until(self.EC.visibility_of_element_located((self.By.ID, "credentials-error")))
        self.assertIn("credentials were not correct", shown.text)
        self.click("link-exit")

        exit_ = self.result("exit")
        error, metadata = exit_["error"], exit_["metadata"]
        self.assertEqual({
            "error_type": "ITEM_ERROR",
            "error_code": "INVALID_CREDENTIALS",
            "error_message": "the provided credentials were not correct",
            "display_message": "The provided credentials were not correct. Please try again.",
        }, error)
        self.assertEqual("requires_credentials", metadata["status"])
        self.assertEqual(FIRST_PLATYPUS, metadata["institution"])
        self.assertTrue(metadata["link_session_id"])
        self.assertTrue(metadata["request_id"])
        names = self.event_names()
        self.assertIn("ERROR", names)
        self.assertEqual("EXIT", names[-1])
        self.assertIsNone(self.driver.execute_script("return window.linkResults.success"))

        # Nothing to link with, and nothing linked: Link made no public token, fundingd has no link.
        self.assertEqual([], self.emulator_link_token(token)["public_tokens"])
        self.assertEqual([], self.links_of(account_id))

    def test_the_hosted_form_returns_to_the_redirect_uri_given_to_create_link_token(self):
        account_id = str(uuid.uuid4())
        done = f"{self.front_end.url}/done"
        token = self.create_link_token(account_id, redirect_uri=done)
        snapshot = self.emulator_link_token(token)
        self.assert_asked_for_as_designed(snapshot, account_id)
        self.assertEqual(done, snapshot["redirect_uri"])

        # No redirect_uri in the query: the hosted page returns to the one the token was made with.
        self.driver.get(f"{PLAID_URL}/link?token={quote(token)}")
        self.click("institution-ins_109508")
        self.log_in("user_good", "pass_good")
        self.pick_checking()
        self.wait.until(lambda d: d.current_url.startswith(done))
        self.wait.until(self.EC.visibility_of_element_located((self.By.ID, "landed")))
        query = {k: v[0] for k, v in parse_qs(urlparse(self.driver.current_url).query).items()}
        self.assertTrue(query["public_token"].startswith("public-sandbox-"), query)
        self.assertEqual(FIRST_PLATYPUS["institution_id"], query["institution_id"])
        self.assertEqual(FIRST_PLATYPUS["name"], query["institution_name"])
        self.assertEqual(("checking", "0000"), (query["account_subtype"], query["account_mask"]))
        self.assertTrue(query["link_session_id"] and query["account_id"])
        self.assertEqual([query["public_token"]], self.emulator_link_token(token)["public_tokens"])

        self.link_and_wait_for_approval(account_id, query["public_token"], query["account_id"])


if __name__ == "__main__":
    unittest.main()
