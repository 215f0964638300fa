"""Throughput and memory of the camt reader on a 1,000,000-entry camt.053.

    .venv/bin/python benchmarks/camt_parse.py [--entries N] [--keep PATH]

The statement is written to a temporary file entry by entry (never held in memory), with opening
and closing balances that agree with the entries, and then read with `read_statement_file` and
verification on. Prints the write and parse times, lines per second and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import TextIO

from payrecon.feeds import read_statement_file

NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.04"
IBAN = "DE02120300000000202051"


def amounts(count: int, seed: int) -> Iterator[int]:
    """Signed amounts in cents, the same sequence for the same seed."""
    rng = random.Random(seed)
    for _ in range(count):
        cents = rng.randint(1, 2_500_000)
        yield cents if rng.randrange(10) < 7 else -cents  # 70 % credits


def balance(code: str, cents: int) -> str:
    mark = "CRDT" if cents >= 0 else "DBIT"
    return (
        f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>"
        f'<Amt Ccy="EUR">{Decimal(abs(cents)).scaleb(-2)}</Amt><CdtDbtInd>{mark}</CdtDbtInd>'
        "<Dt><Dt>2024-01-31</Dt></Dt></Bal>\n"
    )


def entry(n: int, cents: int) -> str:
    credit = cents >= 0
    party, account = ("Dbtr", "DbtrAcct") if credit else ("Cdtr", "CdtrAcct")
    return (
        f'<Ntry><Amt Ccy="EUR">{Decimal(abs(cents)).scaleb(-2)}</Amt>'
        f"<CdtDbtInd>{'CRDT' if credit else 'DBIT'}</CdtDbtInd><Sts>BOOK</Sts>"
        "<BookgDt><Dt>2024-01-31</Dt></BookgDt><ValDt><Dt>2024-01-31</Dt></ValDt>"
        f"<AcctSvcrRef>BENCH{n:010d}</AcctSvcrRef>"
        "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn>"
        "</BkTxCd><NtryDtls><TxDtls>"
        f"<Refs><EndToEndId>E2E-{n:010d}</EndToEndId></Refs>"
        f"<RltdPties><{party}><Nm>Customer {n % 50_000}</Nm></{party}>"
        f"<{account}><Id><IBAN>DE89370400440532{n % 1_000_000:06d}</IBAN></Id></{account}>"
        "</RltdPties>"
        f"<RmtInf><Ustrd>INV-{n:07d} monthly fee</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>\n"
    )


def write_statement(out: TextIO, count: int, seed: int) -> int:
    """Write the statement; returns the net of its entries in cents."""
    net = sum(amounts(count, seed))  # a first pass, so the balances can precede the entries
    opening = 100_000_00
    out.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{NS}"><BkToCstmrStmt>\n')
    out.write("<GrpHdr><MsgId>BENCH</MsgId><CreDtTm>2024-02-01T06:00:00</CreDtTm></GrpHdr>\n")
    out.write(f"<Stmt><Id>BENCH-1</Id><Acct><Id><IBAN>{IBAN}</IBAN></Id><Ccy>EUR</Ccy></Acct>\n")
    out.write(balance("OPBD", opening) + balance("CLBD", opening + net))
    for n, cents in enumerate(amounts(count, seed)):
        out.write(entry(n, cents))
    out.write("</Stmt></BkToCstmrStmt></Document>\n")
    return net


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20240131)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "camt053-bench.xml"
        started = time.perf_counter()
        with path.open("w", encoding="utf-8", buffering=1 << 20) as out:
            net = write_statement(out, args.entries, args.seed)
        written = time.perf_counter() - started
        size_mb = path.stat().st_size / 1_000_000
        started = time.perf_counter()
        count, total = 0, Decimal(0)
        for line in read_statement_file(path):
            count += 1
            total += line.amount
        parsed = time.perf_counter() - started
    assert count == args.entries, (count, args.entries)
    assert total == Decimal(net).scaleb(-2), (total, net)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    print(f"entries:      {args.entries:,}")
    print(f"file size:    {size_mb:,.0f} MB (written in {written:.1f} s)")
    print(f"parse time:   {parsed:.1f} s")
    print(f"throughput:   {count / parsed:,.0f} lines/s")
    print(f"peak RSS:     {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
