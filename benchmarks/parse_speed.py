"""Parse speed of every statement format, each against a bare scan of the same file.

    .venv/bin/python -m benchmarks.parse_speed [--camt 10000 100000 1000000] [--lines 100000]

camt.053: `benchmarks.camt_parse` at each size given (bare baselines: lxml `iterparse` over every
element, and with `tag=`). MT940 (German GVC `:86:`, wrapped at 65 characters) and BAI2 (16
records with an 88 continuation) of `--lines` transactions, balanced so that verification runs;
their baseline is the least any reader does: decode the file and find the transaction lines.
Times are CPU seconds of this process, so other work on the machine does not count.
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from benchmarks.camt_parse import measure as measure_camt
from benchmarks.camt_parse import timed

from payrecon.feeds import read_statement_file

IBAN = "DE44500105175407324931"


def _amounts(count: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [
        c if rng.randrange(10) < 7 else -c
        for c in (rng.randint(1, 2_500_000) for _ in range(count))
    ]


def _wrap(text: str) -> list[str]:
    """Lines of at most 65 characters, none starting with ':' or '-' (SWIFT forbids it)."""
    lines = []
    while text:
        cut = min(65, len(text))
        while cut < len(text) and text[cut] in ":-":
            cut -= 1
        lines.append(text[:cut])
        text = text[cut:]
    return lines


def write_mt940(path: Path, count: int, seed: int) -> int:
    """German-bank MT940: one statement, GVC `:86:` with EREF/SVWZ, name and IBAN, wrapped."""
    cents = _amounts(count, seed)
    opening = 100_000_000
    swift = lambda c: f"{abs(c) // 100},{abs(c) % 100:02d}"  # noqa: E731
    with path.open("w", encoding="utf-8", buffering=1 << 20) as out:
        out.write(f":20:BENCH\n:25:{IBAN}\n:28C:1/1\n:60F:C240131EUR{swift(opening)}\n")
        for n, c in enumerate(cents):
            details = (
                f"166?00GUTSCHR. UEBERWEISUNG?109310?20EREF+E2E{n:010d}?21SVWZ+RG-{n % 999999:06d}"
                f" Kunde {n % 50000}?30COBADEFFXXX?31DE89370400440532{n % 1000000:06d}"
                f"?32Customer {n % 50000}"
            )
            lines = _wrap(details)
            out.write(f":61:2401310131{'C' if c >= 0 else 'D'}{swift(c)}NTRFNONREF//B{n:012d}\n")
            out.write(":86:" + "\n".join(lines) + "\n")
        closing = opening + sum(cents)
        out.write(f":62F:{'C' if closing >= 0 else 'D'}240131EUR{swift(closing)}\n-\n")
    return sum(cents)


def write_bai2(path: Path, count: int, seed: int) -> int:
    """BAI2: one account with opening and closing ledger, 16 records with an 88 each."""
    cents = _amounts(count, seed)
    opening = 100_000_000
    closing = opening + sum(cents)
    with path.open("w", encoding="utf-8", buffering=1 << 20) as out:
        out.write("01,BANK,CUST,240131,0600,1,,,2/\n02,CUST,BANK,1,240131,,USD,2/\n")
        out.write(f"03,5550001234,USD,010,{opening},,,015,{closing},,/\n")
        for n, c in enumerate(cents):
            out.write(f"16,{195 if c >= 0 else 495},{abs(c)},,B{n:012d},C{n:08d},WIRE/\n")
            out.write(f"88,INV-{n % 9999999:07d} CUSTOMER {n % 50000}\n")
        control = opening + closing + sum(abs(c) for c in cents)
        records = 2 + 2 * count
        out.write(f"49,{control},{records}/\n98,{control},1,{records + 2}/\n")
        out.write(f"99,{control},1,{records + 4}/\n")
    return sum(cents)


def bare_scan(path: Path, marker: str) -> int:
    return sum(1 for line in path.read_text("utf-8").splitlines() if line.startswith(marker))


def measure_lines(
    name: str, writer: Callable[[Path, int, int], int], marker: str, count: int
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"bench.{name}"
        net = writer(path, count, 20240131)
        size_mb = path.stat().st_size / 1_000_000
        total = Decimal(0)

        def parse() -> int:
            nonlocal total
            n = 0
            for line in read_statement_file(path):
                n += 1
                total += line.amount
            return n

        found, seconds = timed(parse)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        assert found == count, (found, count)
        assert total == Decimal(net).scaleb(-2), (total, net)
        scanned, bare = timed(lambda: bare_scan(path, marker))
        assert scanned == count
    return {"lines": count, "size_mb": size_mb, "seconds": seconds, "rss": peak, "bare": bare}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--camt", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--lines", type=int, default=100_000)
    args = parser.parse_args()
    head = f"{'format':<10}{'lines':>11}{'size MB':>9}{'parse s':>9}{'lines/s':>10}"
    print(head + f"{'RSS MB':>8}{'baseline/s':>12}{'ratio':>7}{'tag= /s':>10}{'ratio':>7}")
    for entries in args.camt:
        f = measure_camt(entries)
        print(
            f"{'camt.053':<10}{f.entries:>11,}{f.size_mb:>9,.1f}{f.parse_seconds:>9.2f}"
            f"{f.lines_per_second:>10,.0f}{f.peak_rss_mb:>8,.0f}{f.bare_per_second:>12,.0f}"
            f"{f.lines_per_second / f.bare_per_second:>7.2f}{f.bare_tag_per_second:>10,.0f}"
            f"{f.lines_per_second / f.bare_tag_per_second:>7.2f}"
        )
    for name, writer, marker in (("mt940", write_mt940, ":61:"), ("bai2", write_bai2, "16,")):
        m = measure_lines(name, writer, marker, args.lines)
        rate, bare_rate = m["lines"] / m["seconds"], m["lines"] / m["bare"]
        print(
            f"{name:<10}{m['lines']:>11,.0f}{m['size_mb']:>9,.1f}{m['seconds']:>9.2f}"
            f"{rate:>10,.0f}{m['rss']:>8,.0f}{bare_rate:>12,.0f}{rate / bare_rate:>7.2f}"
        )


if __name__ == "__main__":
    main()
