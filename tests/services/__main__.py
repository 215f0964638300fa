"""`python -m tests.services [check|install]` (`make test-deps`): which programs the tests can
start themselves, and, as root with apt-get, install the missing ones from Debian's packages up
front (the test run would install each on first use otherwise)."""

from __future__ import annotations

import sys

from tests.services import packages
from tests.services import postgres as pg
from tests.services import rabbitmq as rmq
from tests.services import redis_server as rds
from tests.services.browser import find as find_chromium


def say(line: str, *, error: bool = False) -> None:
    (sys.stderr if error else sys.stdout).write(line + "\n")


def found() -> dict[str, str | None]:
    """What each service would be started from, or None where it is missing."""
    bindir = pg.system_bindir()
    redis_server = rds.binary()
    rabbitmq = rmq.binaries()
    chromium = find_chromium()
    return {
        "postgresql": str(bindir) if bindir else None,
        "redis": str(redis_server) if redis_server else None,
        "rabbitmq": str(rabbitmq[0]) if rabbitmq else None,
        "chromium": f"{chromium.browser} + {chromium.driver}" if chromium else None,
    }


def main(argv: list[str]) -> int:
    action = argv[0] if argv else "check"
    if action not in ("check", "install"):
        say(__doc__ or "", error=True)
        return 2
    status = found()
    for name, where in status.items():
        say(f"test-deps: {name}: {where or 'missing'}")
    missing = [
        deb for name, where in status.items() if where is None for deb in packages.ADVICE[name][0]
    ]
    if not missing:
        return 0
    command = f"apt-get install {' '.join(missing)}"
    if action == "check":
        say(f"test-deps: to install: {command}")
        return 1
    if not packages.can_install():
        say(f"test-deps: not root or no apt-get; install them: sudo {command}", error=True)
        return 1
    say(f"test-deps: {command}")
    failure = packages.install(missing)
    if failure:
        say(f"test-deps: {command} failed:\n{failure}", error=True)
        return 1
    still = [name for name, where in found().items() if where is None]
    if still:
        say(f"test-deps: still missing after the install: {', '.join(still)}", error=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
