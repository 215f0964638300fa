"""`payrecon demo` on a machine with nothing running: SQLite and the in-process worker."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def run_demo(cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYRECON_")}
    result = subprocess.run(
        [str(BIN / "payrecon"), "demo"],
        cwd=cwd,
        env={**env, "COLUMNS": "120"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def figures(output: str) -> dict[str, str]:
    rows = re.findall(r"│ ([a-z][a-z ()]+?)\s+│\s+([^│]+?)\s+│", output)
    return {name.strip(): value for name, value in rows}


def test_demo_twice_prints_the_same_figures(tmp_path: Path) -> None:
    first = run_demo(tmp_path)
    assert (tmp_path / "payrecon.db").exists()
    numbers = figures(first)
    assert numbers["lines read"] == "426"
    assert int(numbers["lines matched"]) + int(numbers["lines unmatched (review queue)"]) == 426
    assert int(numbers["lines matched"]) > 300
    assert "most indebted customers" in first
    assert len(re.findall(r"C\d{5}", first.split("most indebted customers")[1])) == 3

    second = run_demo(tmp_path)
    assert "nothing was added this time" in second
    assert figures(second) == numbers
