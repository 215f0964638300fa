"""The parse benchmarks run, at a tiny size, for correctness only: their counts and sums are
asserted inside them (never a time)."""

from __future__ import annotations

from benchmarks import camt_parse, parse_speed


def test_camt_benchmark_at_a_tiny_size() -> None:
    figures = camt_parse.measure(300)
    assert figures.entries == 300
    assert figures.size_mb > 0


def test_mt940_and_bai2_benchmarks_at_a_tiny_size() -> None:
    for name, writer, marker in (
        ("mt940", parse_speed.write_mt940, ":61:"),
        ("bai2", parse_speed.write_bai2, "16,"),
    ):
        assert parse_speed.measure_lines(name, writer, marker, 300)["lines"] == 300
