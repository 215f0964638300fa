"""docker-compose.yml and worker.Dockerfile, checked without a Docker engine: the compose file
parses, and every service's command is a real entry point of this package."""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest
import yaml
from typer.main import get_command

from payrecon.cli import app as cli_app

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
PAYRECON_SERVICES = ["migrate", "api", "worker", "beat", "flower"]


def test_compose_has_the_stack() -> None:
    assert set(COMPOSE["services"]) == {"postgres", "redis", *PAYRECON_SERVICES}
    beat = COMPOSE["services"]["beat"]
    assert beat["deploy"]["replicas"] == 1
    flower = COMPOSE["services"]["flower"]
    assert any(arg.startswith("--basic-auth=") for arg in flower["command"])
    assert all(p.startswith("127.0.0.1:") for p in flower["ports"]), (
        "Flower must not listen outside"
    )


def test_long_running_services_come_back_and_the_broker_keeps_its_messages() -> None:
    services = COMPOSE["services"]
    for name in ("postgres", "redis", "api", "worker", "beat", "flower"):
        assert services[name].get("restart") == "unless-stopped", name
    assert services["migrate"]["restart"] == "no"  # one shot: done is done
    redis = services["redis"]
    assert "--appendonly" in redis["command"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert any(v.endswith(":/data") for v in redis["volumes"])
    assert "redisdata" in COMPOSE["volumes"]


def resolve(command: list[str]) -> tuple[object, list[str]]:
    """Walk the Click command tree of `payrecon` along `command`; return the leaf and the rest."""
    node = get_command(cli_app)
    rest = command[1:]
    while rest and hasattr(node, "commands") and rest[0] in node.commands:  # type: ignore[attr-defined]
        node = node.commands[rest[0]]  # type: ignore[attr-defined]
        rest = rest[1:]
    return node, rest


@pytest.mark.parametrize("service", PAYRECON_SERVICES)
def test_every_service_command_is_a_real_entry_point(service: str) -> None:
    command = COMPOSE["services"][service]["command"]
    command = shlex.split(command) if isinstance(command, str) else command
    if command[0] == "payrecon":
        leaf, rest = resolve(command)
        assert not hasattr(leaf, "commands"), f"{command}: names a group, not a command"
        options = {o for p in leaf.params for o in getattr(p, "opts", [])}  # type: ignore[attr-defined]
        for arg in rest:
            if arg.startswith("--"):
                assert arg.split("=")[0] in options, f"{service}: unknown option {arg}"
    else:
        assert command[:3] == ["celery", "-A", "payrecon.worker.app"], command
        module = importlib.import_module("payrecon.worker.app")
        assert module.app.main == "payrecon"
        assert command[3] == "flower"
        importlib.import_module("flower")


def test_dockerfile_is_multistage_non_root_with_healthcheck_and_the_readme_install() -> None:
    text = (REPO / "worker.Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, flags=re.M)) >= 2
    assert re.search(r"^USER payrecon$", text, flags=re.M)
    assert "HEALTHCHECK" in text
    assert "pip install --no-cache-dir -c constraints.txt ." in text
    for copied in ("pyproject.toml", "constraints.txt", "src", "migrations", "schedules"):
        assert copied in text
