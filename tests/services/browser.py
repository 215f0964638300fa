"""Headless Chromium and ChromeDriver for browser tests, and a small WebDriver client over httpx
(no Selenium needed)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.services.processes import Workspace, free_port, wait_for

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DRIVERS = ("chromedriver",)
# where the distributions put them when they are not on PATH
EXTRA_DIRS = ("/usr/bin", "/usr/lib/chromium", "/usr/lib/chromium-browser", "/snap/bin")


@dataclass(frozen=True)
class Chromium:
    """Paths of the browser and of its ChromeDriver."""

    browser: Path
    driver: Path

    def headless_args(self, profile: Path) -> list[str]:
        """Flags for a headless run that also works as root and in a container."""
        return [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            f"--user-data-dir={profile}",
        ]


def _find(names: tuple[str, ...]) -> Path | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return Path(found)
        for folder in EXTRA_DIRS:
            if (Path(folder) / name).is_file():
                return Path(folder) / name
    return None


def find() -> Chromium | None:
    browser, driver = _find(BROWSERS), _find(DRIVERS)
    if browser is None or driver is None:
        return None
    return Chromium(browser=browser, driver=driver)


class WebDriver:
    """One W3C WebDriver session on a ChromeDriver: enough to open a page and read it."""

    def __init__(self, base_url: str, session_id: str) -> None:
        self.base_url = base_url
        self.session = f"{base_url}/session/{session_id}"
        self.http = httpx.Client(timeout=60)

    def command(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.request(method, f"{self.session}{path}", json=body)
        response.raise_for_status()
        return response.json()["value"]

    def get(self, url: str) -> None:
        self.command("POST", "/url", {"url": url})

    def title(self) -> str:
        return str(self.command("GET", "/title"))

    def execute(self, script: str, *args: Any) -> Any:
        return self.command("POST", "/execute/sync", {"script": script, "args": list(args)})


@contextmanager
def webdriver(chromium: Chromium, workspace: Workspace) -> Iterator[WebDriver]:
    """A ChromeDriver of our own on a free port and one headless browser session on it; both
    are stopped on leaving."""
    port = free_port()
    driver = workspace.spawn(
        f"chromedriver-{port}", [str(chromium.driver), f"--port={port}", "--allowed-ips=127.0.0.1"]
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: httpx.get(f"{base}/status", timeout=2).json()["value"]["ready"] is True,
            driver,
            "ChromeDriver",
            timeout=30,
        )
        profile = workspace.path / f"chromium-profile-{port}"
        capabilities = {
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": str(chromium.browser),
                        "args": chromium.headless_args(profile),
                    },
                }
            }
        }
        response = httpx.post(f"{base}/session", json=capabilities, timeout=90)
        response.raise_for_status()
        session = WebDriver(base, response.json()["value"]["sessionId"])
        try:
            yield session
        finally:
            session.http.delete(session.session)
            session.http.close()
    finally:
        workspace.stop(driver, timeout=10)
