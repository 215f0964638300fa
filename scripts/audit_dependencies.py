"""`make lint`'s dependency audit: pip-audit over every pin of constraints.txt.

Known vulnerabilities in a pin fail the build. pip-audit asks PyPI's per-release JSON API (then
OSV) about each pin; where neither answers (an offline machine, or a mirror without that API),
every pin comes back "could not be audited" and pip-audit alone would still say "No known
vulnerabilities found". This script says how many pins were really audited instead, and fails
on that too when PAYRECON_AUDIT_STRICT=1 (set it where the vulnerability database is reachable).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PIP_AUDIT = Path(sys.executable).parent / "pip-audit"


def audit(service: str) -> dict[str, object] | None:
    run = subprocess.run(
        [
            str(PIP_AUDIT), "-r", str(REPO / "constraints.txt"), "--no-deps", "--disable-pip",
            "--progress-spinner", "off", "--vulnerability-service", service, "-f", "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )  # fmt: skip
    try:
        report: dict[str, object] = json.loads(run.stdout)
    except json.JSONDecodeError:
        print(f"audit: pip-audit with {service} gave no report ({run.stderr.strip()[-200:]})")
        return None
    return report


def main() -> int:
    strict = os.environ.get("PAYRECON_AUDIT_STRICT") == "1"
    best: tuple[str, list[dict[str, object]]] | None = None
    for service in ("pypi", "osv"):
        report = audit(service)
        if report is None:
            continue
        deps: list[dict[str, object]] = report["dependencies"]  # type: ignore[assignment]
        audited = [d for d in deps if "skip_reason" not in d]
        if best is None or len(audited) > len([d for d in best[1] if "skip_reason" not in d]):
            best = (service, deps)
        if len(audited) == len(deps):
            break
    if best is None:
        print("audit: pip-audit could not run against any vulnerability service")
        return 1 if strict else 0
    service, deps = best
    audited = [d for d in deps if "skip_reason" not in d]
    vulnerable = [d for d in audited if d.get("vulns")]
    for dep in vulnerable:
        for vuln in dep["vulns"]:  # type: ignore[attr-defined]
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fix yet"
            print(f"audit: {dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixes})")
    print(
        f"audit ({service}): {len(audited)} of {len(deps)} pins audited, "
        f"{len(vulnerable)} with known vulnerabilities"
    )
    if len(audited) < len(deps):
        print(
            f"audit: {len(deps) - len(audited)} pins could not be audited: the vulnerability "
            "database did not answer for them"
            + ("" if strict else " (PAYRECON_AUDIT_STRICT=1 makes this fail)")
        )
    if vulnerable:
        return 1
    return 1 if strict and len(audited) < len(deps) else 0


if __name__ == "__main__":
    sys.exit(main())
