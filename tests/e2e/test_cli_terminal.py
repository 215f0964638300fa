"""The command line as a person and a script see it: a progress bar on a terminal during a
50,000-line ingest, none when standard error is not a terminal, and `--json` that parses. On
SQLite with the in-process broker, in a pseudo-terminal driven by pexpect."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pexpect
import pytest

from tests.integration.test_pipeline_services import DATA

BIN = Path(sys.executable).parent
LINES = 50_000
ACCOUNT = "GB33BUKB20201555555555"  # the owner's account in tests/data/contract_owners.csv
BAR = "━"  # what rich draws a bar with


def write_statement(path: Path, lines: int, *, first: int = 0) -> None:
    """A CSV statement of the bundled generic profile (the demo's columns); bank references
    from `first` on."""
    start = date(2026, 10, 1)
    with path.open("w") as out:
        out.write("date,amount,currency,reference,counterparty_name,counterparty_account,")
        out.write("remittance,account\n")
        for n in range(first, first + lines):
            day = start + timedelta(days=n % 28)
            out.write(f"{day},{10 + n % 500}.{n % 100:02d},GBP,BR{n:07d},Payer {n % 997},,")
            out.write(f"transfer {n},{ACCOUNT}\n")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("cli")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYRECON_")}
    env |= {"COLUMNS": "120", "PAYRECON_LOG_FORMAT": "json", "TERM": "xterm-256color"}
    for args in (
        ["db", "upgrade"],
        ["import", "contract-owners", str(DATA / "contract_owners.csv")],
    ):
        subprocess.run(
            [str(BIN / "payrecon"), *args], cwd=tmp, env=env, check=True, capture_output=True
        )
    write_statement(tmp / "big.csv", LINES)
    write_statement(tmp / "small.csv", 20)
    return tmp, env


def test_a_terminal_sees_the_progress_bar_of_a_large_ingest(
    workdir: tuple[Path, dict[str, str]],
) -> None:
    tmp, env = workdir
    child = pexpect.spawn(
        str(BIN / "payrecon"),
        ["ingest", "big.csv"],
        cwd=str(tmp),
        env=env,
        encoding="utf-8",
        timeout=600,
        dimensions=(40, 120),
    )
    transcript = io.StringIO()
    child.logfile_read = transcript
    child.expect("reading big.csv")
    child.expect(BAR)
    child.expect("routing big.csv")
    child.expect(f"big.csv: processed \\([^)]*\\), {LINES} lines, {LINES} new")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "reconciling" in transcript.getvalue()  # a bar per stage


def run(tmp: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "payrecon"), *args],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_same_ingest_shows_no_bar_when_stderr_is_not_a_terminal(
    workdir: tuple[Path, dict[str, str]],
) -> None:
    tmp, env = workdir
    write_statement(tmp / "big2.csv", LINES, first=LINES)
    # Standard output on the terminal, standard error into a file.
    child = pexpect.spawn(
        "bash",
        ["-c", f"{BIN / 'payrecon'} ingest big2.csv 2>stderr.txt"],
        cwd=str(tmp),
        env=env,
        encoding="utf-8",
        timeout=600,
        dimensions=(40, 120),
    )
    child.expect(f"big2.csv: processed \\([^)]*\\), {LINES} lines, {LINES} new")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    stderr = (tmp / "stderr.txt").read_text()
    assert BAR not in stderr
    assert "reading" not in stderr
    assert "routing" not in stderr


def test_json_output_parses(workdir: tuple[Path, dict[str, str]]) -> None:
    tmp, env = workdir
    result = run(tmp, env, "ingest", "small.csv", "--json")
    assert result.returncode == 0, result.stderr
    (feed,) = json.loads(result.stdout)["files"]
    assert (feed["filename"], feed["status"], feed["lines"]) == ("small.csv", "processed", 20)
    # The same file again: a duplicate, said in JSON too.
    again = json.loads(run(tmp, env, "ingest", "small.csv", "--json").stdout)
    assert again["files"][0]["duplicate"] is True
    status = run(tmp, env, "status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    report = json.loads(status.stdout)
    assert report["services"] == {"database": "ok", "broker": "ok"}
    assert report["owners"][0]["iban"] == "GB33BUKB20201555555555"
    assert report["waiting"]["pending_lines"] == 0


def test_quiet_prints_nothing_but_errors(workdir: tuple[Path, dict[str, str]]) -> None:
    tmp, env = workdir
    child = pexpect.spawn(
        str(BIN / "payrecon"),
        ["import", "contract-owners", str(DATA / "contract_owners.csv"), "--quiet"],
        cwd=str(tmp),
        env=env,
        encoding="utf-8",
        timeout=120,
    )
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert (child.before or "").strip() == ""


def test_status_names_what_does_not_answer(workdir: tuple[Path, dict[str, str]]) -> None:
    tmp, env = workdir
    dead = {**env, "PAYRECON_BROKER_URL": "redis://127.0.0.1:9/0"}  # nothing listens on port 9
    result = run(tmp, dead, "status", "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["services"]["database"] == "ok"
    assert report["services"]["broker"].startswith("does not answer")
    assert report["configured"]["broker"] == "redis://127.0.0.1:9/0"
    text = run(tmp, dead, "status")
    assert text.returncode == 1
    assert "does not answer" in text.stdout
