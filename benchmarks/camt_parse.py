"""Throughput and memory of the camt reader on a camt.053 of 1,000,000 entries, against a bare
lxml walk over the same file in the same run.

    .venv/bin/python benchmarks/camt_parse.py [--entries N] [--seed S]

The statement is written to a temporary file entry by entry (never held in memory), with opening
and closing balances that agree with the entries, and then read with `read_statement_file` and
verification on; the count and the sum are checked. Then two bare lxml walks read the same file
and do nothing with it: `iterparse` over every element's end event, clearing each entry (the
"bare walk"), and `iterparse` with `tag=` filtering on the entries only. Prints entries, file
size, parse seconds, lines/s, peak RSS of the process after parsing, both baselines and the
ratios.
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TextIO

from lxml import etree

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


def bare_walk(path: Path) -> int:
    """lxml iterparse over every element, clearing each entry: what any reader pays."""
    ntry, count = f"{{{NS}}}Ntry", 0
    for _, elem in etree.iterparse(str(path), events=("end",)):
        if elem.tag == ntry:
            count += 1
            elem.clear()
            while elem.getprevious() is not None:
                del elem.getparent()[0]
    return count


def bare_tag_walk(path: Path) -> int:
    """lxml iterparse reporting the entries only (`tag=`), clearing each: the floor."""
    count = 0
    for _, elem in etree.iterparse(str(path), events=("end",), tag=f"{{{NS}}}Ntry"):
        count += 1
        elem.clear()
        while elem.getprevious() is not None:
            del elem.getparent()[0]
    return count


def timed(work: Callable[[], int]) -> tuple[int, float]:
    """(result, CPU seconds): CPU time, since the machine's other work must not count."""
    started = time.process_time()
    result = work()
    return result, time.process_time() - started


@dataclass
class CamtFigures:
    entries: int
    size_mb: float
    write_seconds: float
    parse_seconds: float
    peak_rss_mb: float
    bare_seconds: float
    bare_tag_seconds: float

    @property
    def lines_per_second(self) -> float:
        return self.entries / self.parse_seconds

    @property
    def bare_per_second(self) -> float:
        return self.entries / self.bare_seconds

    @property
    def bare_tag_per_second(self) -> float:
        return self.entries / self.bare_tag_seconds


def measure(entries: int, seed: int = 20240131, *, baselines: bool = True) -> CamtFigures:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "camt053-bench.xml"
        started = time.perf_counter()
        with path.open("w", encoding="utf-8", buffering=1 << 20) as out:
            net = write_statement(out, entries, seed)
        written = time.perf_counter() - started
        size_mb = path.stat().st_size / 1_000_000
        total = Decimal(0)

        def parse() -> int:
            nonlocal total
            count = 0
            for line in read_statement_file(path):
                count += 1
                total += line.amount
            return count

        count, parse_seconds = timed(parse)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
        assert count == entries, (count, entries)
        assert total == Decimal(net).scaleb(-2), (total, net)
        bare_seconds = bare_tag_seconds = float("nan")
        if baselines:
            walked, bare_seconds = timed(lambda: bare_walk(path))
            tagged, bare_tag_seconds = timed(lambda: bare_tag_walk(path))
            assert walked == tagged == entries
    return CamtFigures(
        entries, size_mb, written, parse_seconds, peak_mb, bare_seconds, bare_tag_seconds
    )


def report(f: CamtFigures) -> None:
    print(f"entries:              {f.entries:,}")
    print(f"file size:            {f.size_mb:,.1f} MB (written in {f.write_seconds:.1f} s)")
    print(f"parse time (CPU):     {f.parse_seconds:.2f} s")
    print(f"throughput:           {f.lines_per_second:,.0f} lines/s")
    print(f"peak RSS:             {f.peak_rss_mb:,.0f} MB")
    print(f"bare lxml walk:       {f.bare_per_second:,.0f} entries/s "
          f"(payrecon at {f.lines_per_second / f.bare_per_second:.2f} of it)")  # fmt: skip
    print(f"bare lxml tag= walk:  {f.bare_tag_per_second:,.0f} entries/s "
          f"(payrecon at {f.lines_per_second / f.bare_tag_per_second:.2f} of it)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20240131)
    args = parser.parse_args()
    report(measure(args.entries, args.seed))


if __name__ == "__main__":
    main()
