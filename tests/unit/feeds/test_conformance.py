"""Every bank-file fixture through `payrecon parse`, with and without verification, against a
golden file: the line count and the sum per currency of what is read, the refusal (which must
name the file and the place) of what is not, and the notices. Standard error may hold nothing but
`error:` and `note:` lines: no traceback, no third-party output, no repr.

    PAYRECON_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/feeds/test_conformance.py

rewrites tests/fixtures/bank-variants/golden.json from what the parsers do now; review the diff.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from payrecon.cli import app

TESTS = Path(__file__).resolve().parents[2]
VARIANTS = TESTS / "fixtures" / "bank-variants"
SHARED = TESTS.parent.parent / "shared" / "fixtures"
GOLDEN = VARIANTS / "golden.json"
BANK_FORMATS = ("camt", "mt940", "bai2", "ofx")


def fixtures() -> dict[str, Path]:
    found = {
        f"shared/{path.parent.name}/{path.name}": path
        for folder in BANK_FORMATS
        for path in sorted((SHARED / folder).iterdir())
        if not path.name.startswith("LICENSE")
    }
    found.update(
        (f"variants/{path.name}", path)
        for path in sorted(VARIANTS.iterdir())
        if path.suffix not in (".md", ".json")
    )
    return found


FIXTURES = fixtures()


def observe(path: Path, verify: bool) -> dict[str, Any]:
    """What `payrecon parse` makes of the file, checking the shape of its output on the way."""
    arguments = ["parse", str(path)] + ([] if verify else ["--no-verify"])
    result = CliRunner().invoke(app, arguments)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    sums: dict[str, Decimal] = {}
    count = 0
    for text in result.stdout.splitlines():
        line = json.loads(text)
        sums[line["currency"]] = sums.get(line["currency"], Decimal(0)) + Decimal(line["amount"])
        count += 1
    errors, notes = [], []
    for text in result.stderr.splitlines():
        assert text.startswith(("error: ", "note: ")), f"stray output on standard error: {text!r}"
        (errors if text.startswith("error: ") else notes).append(text)
    assert "Traceback" not in result.stderr
    assert " object at 0x" not in result.stderr
    out: dict[str, Any] = {"notes": [n.removeprefix("note: ") for n in notes]}
    if result.exit_code:
        assert result.exit_code == 1
        (error,) = errors
        message = error.removeprefix("error: ")
        name, place, problem = [*message.split(": ", 2), "", ""][:3]
        assert name == path.name, f"the refusal does not name the file: {message!r}"
        assert place, f"the refusal does not name a place: {message!r}"
        assert problem, f"the refusal does not say what is wrong: {message!r}"
        out["refused"] = message
    else:
        assert not errors
        out["lines"] = count
        out["sums"] = {currency: f"{total:f}" for currency, total in sorted(sums.items())}
    return out


def test_conformance_of_every_fixture() -> None:
    observed = {
        name: {"verify": observe(path, True), "no_verify": observe(path, False)}
        for name, path in FIXTURES.items()
    }
    if os.environ.get("PAYRECON_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(observed, indent=1, ensure_ascii=False) + "\n")
    golden = json.loads(GOLDEN.read_text())
    assert sorted(observed) == sorted(golden), "fixtures added or removed: update the golden file"
    for name, expected in golden.items():
        assert observed[name] == expected, name


@pytest.mark.parametrize(
    ("name", "exit_code"),
    [("mt940-dutch-long-reference.sta", 0), ("ofx-signon-failed.ofx", 1)],
)
def test_a_real_process_prints_no_traceback_or_library_output(name: str, exit_code: int) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "payrecon"), "parse", str(VARIANTS / name)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == exit_code
    for text in done.stderr.splitlines():
        assert text.startswith(("error: ", "note: ")), text
    assert all(json.loads(text) for text in done.stdout.splitlines())
