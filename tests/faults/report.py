"""The worker-fault table of docs/reliability.md, from the fault suite's results
(`var/faults/results.json`, written by `tests/e2e/test_faults.py`): `python -m tests.faults.report`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

COLUMNS = (
    "broker",
    "fault",
    "lines",
    "injected",
    "exit",
    "run (s)",
    "finished after last fault (s)",
    "same as undisturbed",
    "allocated twice",
    "left running",
    "task runs",
)


def table(results: list[dict[str, object]]) -> str:
    rows = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in results:
        runs = r.get("task_runs") or {}
        assert isinstance(runs, dict)
        after = r.get("recovered_after_last_fault")
        cells = [
            r["broker"],
            r["fault"],
            r["lines"],
            r["injected"],
            r["exit_code"],
            r["seconds"],
            "—" if after is None else after,
            "yes" if r["same_as_undisturbed"] else "**no**",
            r["duplicates"],
            r["left_running"],
            ", ".join(f"{count} {status}" for status, count in sorted(runs.items())),
        ]
        rows.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    path = Path(argv[1] if len(argv) > 1 else "var/faults/results.json")
    sys.stdout.write(table(json.loads(path.read_text())) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
