"""A labelled data set for the matching engine: customers, invoices, a camt.053 statement (owner
1, GBP, invoice numbers INV-0000000) and an MT940 statement (owner 2, EUR, format RG-000000),
and the truth: for every line, the allocations a careful person would make.

    .venv/bin/python -m benchmarks.matching_data --seed 1 --lines 10000 --out var/bench/1

Every rule is exercised, and so are the traps: account numbers that look like invoice numbers,
payer names shared by several customers, bare order numbers, references to unknown or settled
invoices, an account shared by two customers, unknown payers named like customers. Debits
return, refund and charge back earlier payments (their invoices reopen in the truth too).
Provider payouts (payouts.json, with their items) arrive as credits that settle them.
Lines are generated day by day in the order the engine takes them, and the truth follows the
open amounts as the day's payments reduce them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.matching_files import (
    write_camt053,
    write_customers,
    write_invoices,
    write_mt940,
    write_mt940_gvc,
    write_owners,
    write_truth,
)
from benchmarks.matching_payouts import write_payouts
from benchmarks.matching_scenarios import Generator
from benchmarks.matching_world import OWNERS

RENDERINGS = ("own", "camt053", "mt940")


def write_dataset(seed: int, lines: int, out: Path, *, render: str = "own") -> dict[str, object]:
    """Generate and write the data set; returns its manifest (also written as manifest.json).

    `render` "own" writes each owner's statement in its own format (owner 1 camt.053, owner 2
    MT940 with Dutch-style subfields); "camt053" and "mt940" write the same payments of every
    owner as camt.053, or as MT940 the way German banks write it (GVC `:86:` cut into 27-character
    slices and wrapped at 65 characters), so that the two renderings can be scored side by side.
    """
    generator = Generator(seed, lines)
    generator.generate()
    out.mkdir(parents=True, exist_ok=True)
    write_owners(
        out / "contract_owners.csv",
        [(o.id, f"Bench owner {o.id}", o.account, o.number_format) for o in OWNERS],
    )
    write_customers(out / "customers.csv", generator.customers)
    write_invoices(out / "invoices.csv", generator.invoices)
    files = []
    for owner in OWNERS:
        own = [
            line
            for line in generator.lines
            if (line.external_id[0] == "C") == (owner.file_format == "camt053")
        ]
        if not own:
            continue
        kind = owner.file_format if render == "own" else render
        name = f"statement-{owner.id}.{'camt053.xml' if kind == 'camt053' else 'sta'}"
        writer = {"camt053": write_camt053, "mt940": write_mt940_gvc}[kind]
        if render == "own" and kind == "mt940":
            writer = write_mt940
        writer(out / name, f"BENCH-{seed}-{owner.id}", owner.account, owner.currency, own)
        files.append(name)
    write_truth(out / "truth.jsonl", generator.lines)
    write_payouts(out / "payouts.json", generator.payouts)
    manifest: dict[str, object] = {
        "seed": seed,
        "lines": len(generator.lines),
        "customers": len(generator.customers),
        "invoices": len(generator.invoices),
        "payouts": len(generator.payouts),
        "files": files,
        "render": render,
        "owners": [
            {"id": o.id, "account": o.account, "invoice_number_format": o.number_format}
            for o in OWNERS
        ],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--render", choices=RENDERINGS, default="own")
    args = parser.parse_args()
    print(json.dumps(write_dataset(args.seed, args.lines, args.out, render=args.render), indent=2))


if __name__ == "__main__":
    main()
