"""The emulator's Plaid Link page in a real browser (headless Chromium from Debian, driven over
WebDriver with Selenium), with nothing but the standalone emulator (no fundingd).

run_sdk.sh runs this module after installing chromium and chromium-driver (lib.sh's
ensure_chromium) and exports SANDBOX_CHROMIUM and SANDBOX_CHROMEDRIVER; when they cannot be had
(no apt-get, not root) it exports SANDBOX_BROWSER_SKIP with the reason, says so loudly, and these
tests are skipped with that reason.

A front end on another origin (browser_front_end.FrontEnd, a local HTTP server) loads the emulator's
/link/v2/stable/link-initialize.js, creates a handler with a token from /link/token/create and
opens Link; the test clicks First Platypus Bank, logs in and picks the checking account by the
page's documented element ids (docs/sandbox.md), and the front end's callbacks receive what Plaid's
Link gives them. The hosted form (/link?token=&redirect_uri=) is driven the same way.
LINK_SCREENSHOT=path saves a PNG of the Link page (docs/img/sandbox-link.png was made so).
"""

import os
import unittest
from urllib.parse import parse_qs, urlparse

from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.country_code import CountryCode
from plaid.model.item_get_request import ItemGetRequest
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.link_token_create_request import LinkTokenCreateRequest
from plaid.model.link_token_create_request_user import LinkTokenCreateRequestUser
from plaid.model.products import Products
from plaid.model.sandbox_item_reset_login_request import SandboxItemResetLoginRequest

from browser_front_end import FrontEnd, start_chromium
from sdk_plaid import PLAID_URL, make_client

SKIP = os.environ.get("SANDBOX_BROWSER_SKIP")
WAIT_S = 20


@unittest.skipIf(SKIP, f"no browser: {SKIP}")
class LinkInABrowser(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.driver = start_chromium()
        cls.front_end = FrontEnd(PLAID_URL)
        cls.client = make_client()

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()
        cls.front_end.close()

    def setUp(self):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as EC
        from selenium.webdriver.support.ui import WebDriverWait

        self.By, self.EC = By, EC
        self.wait = WebDriverWait(self.driver, WAIT_S)
        self.driver.switch_to.default_content()

    # --- helpers ----------------------------------------------------------------------------------

    def link_token(self, **extra) -> str:
        request = LinkTokenCreateRequest(
            client_name="Browser test",
            language="en",
            country_codes=[CountryCode("US")],
            user=LinkTokenCreateRequestUser(client_user_id="browser-user"),
            **extra,
        )
        return self.client.link_token_create(request).link_token

    def click(self, element_id: str):
        self.wait.until(self.EC.element_to_be_clickable((self.By.ID, element_id))).click()

    def type_into(self, element_id: str, text: str):
        field = self.wait.until(self.EC.visibility_of_element_located((self.By.ID, element_id)))
        field.clear()
        field.send_keys(text)

    def open_link(self, token: str):
        """Loads the front end, opens Link and switches into its iframe."""
        self.driver.get(f"{self.front_end.url}/?token={token}")
        self.wait.until(lambda d: d.execute_script("return window.linkResults.loaded"))
        self.click("open-link")
        frame = self.wait.until(self.EC.visibility_of_element_located(
            (self.By.CSS_SELECTOR, "iframe[id^='plaid-link-iframe-']")))
        self.driver.switch_to.frame(frame)

    def log_in(self, username: str, password: str):
        self.type_into("username", username)
        self.type_into("password", password)
        self.click("credentials-submit")

    def result(self, kind: str) -> dict:
        """Waits in the front end for onSuccess ("success") or onExit ("exit")."""
        self.driver.switch_to.default_content()
        return self.wait.until(lambda d: d.execute_script(f"return window.linkResults.{kind}"))

    def event_names(self) -> list:
        return self.driver.execute_script("return window.linkResults.events.map(e => e.eventName)")

    def exchange(self, public_token: str) -> str:
        return self.client.item_public_token_exchange(
            ItemPublicTokenExchangeRequest(public_token=public_token)).access_token

    # --- the tests --------------------------------------------------------------------------------

    def test_a_front_end_links_first_platypus_checking_and_gets_a_public_token(self):
        self.open_link(self.link_token(products=[Products("auth")]))
        self.wait.until(self.EC.element_to_be_clickable((self.By.ID, "institution-ins_109508")))
        screenshot = os.environ.get("LINK_SCREENSHOT")
        if screenshot:
            self.driver.find_element(self.By.ID, "plaid-link").screenshot(screenshot)
        self.click("institution-ins_109508")
        self.log_in("user_good", "pass_good")
        self.click("account-checking")
        self.click("accounts-submit")

        success = self.result("success")
        public_token, metadata = success["public_token"], success["metadata"]
        self.assertTrue(public_token.startswith("public-sandbox-"))
        self.assertEqual(metadata["public_token"], public_token)
        self.assertEqual(metadata["institution"], {"name": "First Platypus Bank", "institution_id": "ins_109508"})
        self.assertEqual(len(metadata["accounts"]), 1)
        account = metadata["accounts"][0]
        self.assertEqual((account["name"], account["mask"], account["type"], account["subtype"]),
                         ("Plaid Checking", "0000", "depository", "checking"))
        self.assertIsNone(account["verification_status"])
        self.assertEqual(metadata["account_id"], account["id"])
        self.assertEqual(metadata["account"], account)
        self.assertIsNone(metadata["transfer_status"])
        self.assertTrue(metadata["link_session_id"])
        names = self.event_names()
        for name in ["OPEN", "TRANSITION_VIEW", "SELECT_INSTITUTION", "SUBMIT_CREDENTIALS", "HANDOFF"]:
            self.assertIn(name, names)
        self.assertLess(names.index("OPEN"), names.index("SELECT_INSTITUTION"))
        self.assertLess(names.index("SUBMIT_CREDENTIALS"), names.index("HANDOFF"))
        self.assertIsNone(self.driver.execute_script("return window.linkResults.exit"))
        self.assertEqual(self.driver.find_elements(self.By.CSS_SELECTOR, "iframe[style*='block']"), [])

        access_token = self.exchange(public_token)
        accounts = self.client.accounts_get(AccountsGetRequest(access_token=access_token)).accounts
        self.assertEqual([a.account_id for a in accounts], [account["id"]])

    def test_user_bad_gets_invalid_credentials_and_on_exit_reports_it(self):
        self.open_link(self.link_token(products=[Products("auth")]))
        self.click("institution-ins_109508")
        self.log_in("user_bad", "pass_good")
        shown = self.wait.until(self.EC.visibility_of_element_located((self.By.ID, "credentials-error")))
        self.assertIn("credentials were not correct", shown.text)
        self.click("link-exit")

        exit_ = self.result("exit")
        error, metadata = exit_["error"], exit_["metadata"]
        self.assertEqual(error, {
            "error_type": "ITEM_ERROR",
            "error_code": "INVALID_CREDENTIALS",
            "error_message": "the provided credentials were not correct",
            "display_message": "The provided credentials were not correct. Please try again.",
        })
        self.assertEqual(metadata["status"], "requires_credentials")
        self.assertEqual(metadata["institution"], {"name": "First Platypus Bank", "institution_id": "ins_109508"})
        self.assertTrue(metadata["link_session_id"])
        self.assertTrue(metadata["request_id"])
        names = self.event_names()
        self.assertIn("ERROR", names)
        self.assertEqual(names[-1], "EXIT")
        self.assertIsNone(self.driver.execute_script("return window.linkResults.success"))

    def test_the_hosted_form_redirects_with_a_public_token(self):
        token = self.link_token(products=[Products("auth")])
        done = f"{self.front_end.url}/done"
        self.driver.get(f"{PLAID_URL}/link?token={token}&redirect_uri={done}")
        self.click("institution-ins_109508")
        self.log_in("user_good", "pass_good")
        self.click("account-checking")
        self.click("accounts-submit")
        self.wait.until(lambda d: d.current_url.startswith(done))
        query = {k: v[0] for k, v in parse_qs(urlparse(self.driver.current_url).query).items()}
        self.assertTrue(query["public_token"].startswith("public-sandbox-"))
        self.assertEqual(query["institution_id"], "ins_109508")
        self.assertEqual(query["institution_name"], "First Platypus Bank")
        self.assertEqual((query["account_subtype"], query["account_mask"]), ("checking", "0000"))
        self.assertTrue(query["link_session_id"] and query["account_id"])
        self.exchange(query["public_token"])

    def test_update_mode_logs_in_again_and_repairs_the_item(self):
        self.open_link(self.link_token(products=[Products("auth")]))
        self.click("institution-ins_109508")
        self.log_in("user_good", "pass_good")
        self.click("account-checking")
        self.click("accounts-submit")
        access_token = self.exchange(self.result("success")["public_token"])
        self.client.sandbox_item_reset_login(SandboxItemResetLoginRequest(access_token=access_token))

        self.open_link(self.link_token(access_token=access_token))
        heading = self.wait.until(self.EC.visibility_of_element_located((self.By.ID, "credentials-institution")))
        self.assertEqual(heading.text, "Log in to First Platypus Bank")
        self.log_in("user_good", "pass_good")
        success = self.result("success")
        self.assertEqual(success["metadata"]["institution"]["institution_id"], "ins_109508")
        opened = [e for e in self.driver.execute_script("return window.linkResults.events")
                  if e["eventName"] == "OPEN"]
        self.assertTrue(opened[0]["metadata"]["is_update_mode"])
        self.assertIsNone(self.client.item_get(ItemGetRequest(access_token=access_token)).item.error)


if __name__ == "__main__":
    unittest.main()
