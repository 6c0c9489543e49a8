"""The Space in a real browser: headless Debian chromium, driven over the DevTools protocol on
a pipe (``--remote-debugging-pipe``, no extra packages), opens the Tag tab with an example,
waits for the highlighted entities and takes a screenshot; no request may leave 127.0.0.1."""

import base64
import json
import os
import shutil
import subprocess
import time

import pytest

from tests.test_space import served, space_settings  # noqa: F401 (fixtures)

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]
LOCAL = ("http://127.0.0.1:", "data:", "blob:", "about:")
ENTITIES_SHOWN = """(() => {
  const box = document.querySelector('#tag-entities');
  if (!box || !box.offsetParent) return null;
  const marked = [...box.querySelectorAll('.token.highlighted')].filter(
    el => getComputedStyle(el).backgroundColor !== 'rgba(0, 0, 0, 0)');
  return marked.length ? {text: box.innerText, marked: marked.map(el => el.innerText)} : null;
})()"""


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Skipped (before the app is built) where chromium is absent, except in CI, where it fails.
pytestmark = pytest.mark.skipif(not CHROMIUM and not os.environ.get("CI"),
                                reason="chromium is not installed")


class DevTools:
    """A minimal DevTools protocol client over chromium's pipe (NUL-terminated JSON)."""

    def __init__(self, binary: str, user_data_dir: str) -> None:
        ours_in, theirs_out = os.pipe()  # chromium writes fd 4, we read
        theirs_in, ours_out = os.pipe()  # we write, chromium reads fd 3
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{theirs_in} 4>&{theirs_out}', binary, *FLAGS,
             f"--user-data-dir={user_data_dir}", "--remote-debugging-pipe", "about:blank"],
            pass_fds=(theirs_in, theirs_out), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(theirs_in)
        os.close(theirs_out)
        self.reader, self.writer = os.fdopen(ours_in, "rb"), os.fdopen(ours_out, "wb")
        self.next_id, self.buffer, self.events = 0, b"", []

    def _message(self) -> dict:
        while b"\0" not in self.buffer:
            chunk = self.reader.read1(1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, attached: str | None = None, **params) -> dict:
        """Send a command and return its result (events seen meanwhile are kept)."""
        self.next_id += 1
        command = {"id": self.next_id, "method": method, "params": params}
        if attached:
            command["sessionId"] = attached
        self.writer.write(json.dumps(command).encode() + b"\0")
        self.writer.flush()
        while True:
            message = self._message()
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self.events.append(message)

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (RuntimeError, OSError):
            pass
        self.writer.close()
        self.reader.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def test_tag_tab_shows_highlighted_entities(served, tmp_path):  # noqa: F811 (fixture)
    assert CHROMIUM, "chromium is missing: .ci/run installs it (apt-get install -y chromium)"
    browser = DevTools(CHROMIUM, str(tmp_path / "profile"))
    try:
        target = browser.send("Target.createTarget", url="about:blank")["targetId"]
        attached = browser.send("Target.attachToTarget", targetId=target,
                                flatten=True)["sessionId"]
        browser.send("Network.enable", attached)
        browser.send("Emulation.setDeviceMetricsOverride", attached, width=1280, height=1000,
                     deviceScaleFactor=1, mobile=False)
        browser.send("Page.navigate", attached, url=f"{served.url}?tab=tag&example=0")
        deadline, shown = time.monotonic() + 45, None
        while time.monotonic() < deadline and not shown:
            time.sleep(0.25)
            shown = browser.send("Runtime.evaluate", attached, expression=ENTITIES_SHOWN,
                                 returnByValue=True)["result"].get("value")
        assert shown, "the Tag tab never showed highlighted entities"
        assert "Cystic fibrosis" in shown["marked"] and "Disease" in shown["text"]
        time.sleep(0.5)  # let the highlight colours settle before the screenshot
        png = base64.b64decode(browser.send("Page.captureScreenshot", attached,
                                            format="png")["data"])
        requests = [e["params"]["request"]["url"] for e in browser.events
                    if e.get("method") == "Network.requestWillBeSent"]
    finally:
        browser.close()
    screenshot = tmp_path / "tag.png"
    screenshot.write_bytes(png)
    print(f"screenshot: {screenshot}")
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert requests and all(url.startswith(LOCAL) for url in requests), \
        [url for url in requests if not url.startswith(LOCAL)]
