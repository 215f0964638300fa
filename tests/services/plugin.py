"""The pytest side of `tests.services`: fixtures, markers, the clean-up at the end of the run (and
on SIGTERM or SIGHUP, which become a KeyboardInterrupt so pytest tears down as on Ctrl-C), the
reaping of what killed sessions left, and a summary line per service used."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from types import FrameType

import pytest

import tests.services as services
from tests.services.browser import Chromium, WebDriver
from tests.services.browser import webdriver as open_webdriver
from tests.services.processes import reap_orphans

MARKS = {"amqp_url": "rabbitmq", "chromium": "browser", "webdriver": "browser"}
_previous_handlers: dict[signal.Signals, object] = {}


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def pytest_configure(config: pytest.Config) -> None:
    services.mode()  # a wrong PAYRECON_TEST_SERVICES stops the run here
    reap_orphans()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) is signal.SIG_DFL:
                _previous_handlers[sig] = signal.signal(sig, _interrupt)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses a RabbitMQ or browser fixture carries its marker, so `-m 'not browser'`
    deselects it."""
    for item in items:
        for fixture, mark in MARKS.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(mark)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """After every fixture's teardown (the runner's own sessionfinish runs first)."""
    services.SESSION.stop()


def pytest_unconfigure(config: pytest.Config) -> None:
    services.SESSION.stop()
    for sig, handler in _previous_handlers.items():
        signal.signal(sig, handler)  # type: ignore[arg-type]
    _previous_handlers.clear()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    report = services.SESSION.report
    if report:
        terminalreporter.write_sep("-", f"test services (PAYRECON_TEST_SERVICES={services.mode()})")
        for kind, line in report.items():
            terminalreporter.write_line(f"{kind}: {line}")


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """The RabbitMQ broker of the session (started on first use when none answers)."""
    return services.amqp_url()


@pytest.fixture(scope="session")
def chromium() -> Chromium:
    """Paths of headless Chromium and ChromeDriver."""
    return services.chromium()


@pytest.fixture
def webdriver(chromium: Chromium) -> Iterator[WebDriver]:
    """A live WebDriver session on headless Chromium, closed after the test."""
    with open_webdriver(chromium, services.SESSION.workspace()) as driver:
        yield driver
