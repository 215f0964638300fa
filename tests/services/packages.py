"""What to do when a program the tests need is missing: install it from Debian's packages when
the session runs as root with apt-get (as CI does), else stop the run with one message that says
exactly what to install."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import NoReturn

import pytest

# What to install, per missing thing: Debian/Ubuntu package names, and a word for other systems.
ADVICE = {
    "postgresql": (["postgresql"], "PostgreSQL 13+ server (`brew install postgresql@16` on macOS)"),
    "redis": (["redis-server"], "Redis (`brew install redis` on macOS)"),
    "rabbitmq": (["rabbitmq-server"], "RabbitMQ (`brew install rabbitmq` on macOS)"),
    "chromium": (
        ["chromium", "chromium-driver"],
        "Chromium and ChromeDriver (`brew install --cask chromium chromedriver` on macOS)",
    ),
}


def can_install() -> bool:
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def install(packages: list[str]) -> str | None:
    """`apt-get install` the packages (refreshing the lists once if that fails); None on
    success, else the end of apt's output. Debian's server packages start their system service
    on install, as they always do."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = [
        "apt-get",
        "-o",
        "DPkg::Lock::Timeout=600",
        "install",
        "-y",
        "--no-install-recommends",
        *packages,
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        subprocess.run(
            ["apt-get", "-o", "DPkg::Lock::Timeout=600", "update"],
            env=env,
            capture_output=True,
            check=False,
        )
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode == 0:
        return None
    return "\n".join((result.stdout + result.stderr).strip().splitlines()[-10:])


def stop_run(what: str, why: str, apt_output: str | None = None) -> NoReturn:
    """End the test run at once with one message naming what to install."""
    debian, other = ADVICE[what]
    tried = f"\n`apt-get install {' '.join(debian)}` failed:\n{apt_output}" if apt_output else ""
    pytest.exit(
        f"payrecon tests: {why}. Install {other}; on Debian or Ubuntu: "
        f"`sudo apt-get install {' '.join(debian)}`, "
        "or run the tests as root, which installs it. See README.md, 'Two commands'."
        f"{tried}",
        returncode=pytest.ExitCode.USAGE_ERROR,
    )
