"""Driving the console in headless Chromium over the W3C WebDriver protocol (the session of
`tests.services.browser`): find, click, type, read, screenshots, and an axe-core check
(vendored in tests/e2e/vendor, injected by the driver, not served by payrecon)."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

from tests.services.browser import WebDriver

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
ROOT = Path(__file__).resolve().parents[2]
# The README names this folder: the tests leave a screenshot of each console page here.
SCREENSHOTS = ROOT / "var" / "screenshots" / "console"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"


class Console:
    """One browser on the console at `base`."""

    def __init__(self, driver: WebDriver, base: str) -> None:
        self.driver = driver
        self.base = base
        driver.command("POST", "/window/rect", {"width": 1280, "height": 1000})

    def open(self, path: str) -> None:
        self.driver.get(f"{self.base}{path}")

    @property
    def url(self) -> str:
        return str(self.driver.command("GET", "/url"))

    def find(self, css: str) -> str:
        found = self.driver.command("POST", "/element", {"using": "css selector", "value": css})
        return str(found[ELEMENT])

    def all(self, css: str) -> list[str]:
        found = self.driver.command("POST", "/elements", {"using": "css selector", "value": css})
        return [str(e[ELEMENT]) for e in found]

    def exists(self, css: str) -> bool:
        return bool(self.all(css))

    def click(self, css: str) -> None:
        self.driver.command("POST", f"/element/{self.find(css)}/click", {})

    def type(self, css: str, text: str) -> None:
        element = self.find(css)
        self.driver.command("POST", f"/element/{element}/clear", {})
        self.driver.command("POST", f"/element/{element}/value", {"text": text})

    def text(self, css: str = "body") -> str:
        return str(self.driver.command("GET", f"/element/{self.find(css)}/text"))

    def cookie(self, name: str) -> dict[str, Any]:
        return dict(self.driver.command("GET", f"/cookie/{name}"))

    def sign_in(self, name: str, password: str) -> None:
        self.open("/console")
        self.type("#name", name)
        self.type("#password", password)
        self.click("#sign-in")
        self.wait_for(lambda: "/sign-in" not in self.url, "the signed-in page")

    def wait_for(self, check: Any, what: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.1)
        raise AssertionError(f"{what} did not appear; at {self.url}: {self.text()[:500]}")

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        path.write_bytes(base64.b64decode(self.driver.command("GET", "/screenshot")))
        return path

    def serious_violations(self) -> list[dict[str, Any]]:
        """axe-core's serious and critical violations on the page shown."""
        self.driver.execute(AXE.read_text(encoding="utf-8") + "\nreturn true;")
        found = self.driver.command(
            "POST",
            "/execute/async",
            {
                "script": "const done = arguments[arguments.length - 1];"
                "axe.run(document, {resultTypes: ['violations']})"
                ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact,"
                " help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))))"
                ".catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e)}]));",
                "args": [],
            },
        )
        return [v for v in found if v["impact"] in ("serious", "critical")]

    def post_from_page(self, path: str, fields: dict[str, str]) -> int:
        """A form post made by script on the page (as a forged one would be): its status."""
        result = self.driver.command(
            "POST",
            "/execute/async",
            {
                "script": "const [path, fields, done] = arguments;"
                "fetch(path, {method: 'POST', body: new URLSearchParams(fields),"
                " redirect: 'manual'}).then(r => done(r.status)).catch(e => done(String(e)));",
                "args": [path, fields],
            },
        )
        return int(result)
