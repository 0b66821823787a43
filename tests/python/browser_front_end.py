"""What the browser tests of Plaid Link share: a front end on its own origin and headless Chromium.

browser_link.py (the standalone emulator, run by run_sdk.sh) and browser_fundingd.py (fundingd's
in-process emulator, run by run.sh) both load FrontEnd's page, which does what docs/sandbox.md shows:
it loads the emulator's /link/v2/stable/link-initialize.js, creates a handler with the token in its
own query string (?token=…) and opens Link on a click, recording every callback in
window.linkResults. /done is a landing page for the hosted form's redirect (element #landed).

start_chromium drives Debian's chromium through its chromedriver (SANDBOX_CHROMIUM and
SANDBOX_CHROMEDRIVER, as lib.sh's ensure_chromium exports them), headless, downloading nothing.
"""

import http.server
import os
import threading
from urllib.parse import urlparse

# The front end: Link in a few lines, as docs/sandbox.md shows it, plus a record of the callbacks.
FRONT_END_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>A front end</title></head>
<body>
<h1>A front end on another origin</h1>
<button id="open-link" disabled>Link a bank account</button>
<script src="PLAID_URL/link/v2/stable/link-initialize.js"></script>
<script>
  window.linkResults = {events: [], success: null, exit: null, loaded: false};
  var handler = Plaid.create({
    token: new URLSearchParams(location.search).get('token'),
    onLoad: function () {
      window.linkResults.loaded = true;
      document.getElementById('open-link').disabled = false;
    },
    onSuccess: function (public_token, metadata) {
      window.linkResults.success = {public_token: public_token, metadata: metadata};
    },
    onExit: function (error, metadata) {
      window.linkResults.exit = {error: error, metadata: metadata};
    },
    onEvent: function (eventName, metadata) {
      window.linkResults.events.push({eventName: eventName, metadata: metadata});
    }
  });
  document.getElementById('open-link').addEventListener('click', function () { handler.open(); });
</script>
</body></html>
"""


class FrontEnd:
    """Serves the front end (for the emulator at plaid_url) at / and a landing page at /done, on
    its own port of 127.0.0.1 (another origin than the emulator's)."""

    def __init__(self, plaid_url: str):
        page = FRONT_END_PAGE.replace("PLAID_URL", plaid_url)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                body = page if urlparse(self.path).path == "/" else "<p id='landed'>done</p>"
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def start_chromium():
    """A headless Chromium WebDriver session (selenium is imported here, so that a module whose
    tests are skipped for want of a browser imports without it mattering)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must download nothing
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("SANDBOX_CHROMIUM", "/usr/bin/chromium")
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=900,800", "--force-device-scale-factor=1"]:
        options.add_argument(argument)
    service = Service(executable_path=os.environ.get("SANDBOX_CHROMEDRIVER", "/usr/bin/chromedriver"))
    return webdriver.Chrome(service=service, options=options)
