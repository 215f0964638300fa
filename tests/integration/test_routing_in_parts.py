"""A file's lines routed in parts, side by side and in any order, get the routes of the file
routed whole; a part that never ran is routed when the file is stored; routing a part again
replaces its routes. On the labelled matching data set (every rule, returns, payouts), in small
blocks so that its files make many."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from benchmarks.matching_data import write_dataset
from benchmarks.matching_payouts import load_payouts
from sqlalchemy import Engine, delete, select

from payrecon.services.admin.imports import (
    import_contract_owners,
    import_customers,
    import_invoices,
)
from payrecon.services.reconciliation.ingest import (
    line_blocks,
    part_blocks,
    parts_for,
    read_feed_file,
    receive_file,
    route_feed_file,
    store_staged_files,
)
from payrecon.store import matching_tables as mt
from payrecon.store import tables as t
from payrecon.store.staging_tables import staged_routes, staged_suggestions

BLOCK = 50


def test_blocks_and_parts_cover_every_line_once() -> None:
    blocks = line_blocks(1003, 100)
    assert [(b.start, b.stop) for b in blocks[:2]] == [(1, 101), (101, 201)]
    assert (blocks[-1].start, blocks[-1].stop) == (1001, 1004)
    for parts in (1, 2, 3, 7, 11, 40):
        seqs = [s for part in range(parts) for b in part_blocks(blocks, part, parts) for s in b]
        assert seqs == list(range(1, 1004))
    assert line_blocks(0, 100) == []
    assert [parts_for(size, 100) for size in (0, 1, 100, 101, 1000)] == [1, 1, 1, 2, 10]


@pytest.fixture
def files(engine: Engine, tmp_path: Path) -> tuple[Path, list[int]]:
    data = tmp_path / "data"
    write_dataset(4, 1200, data, render="camt053")
    import_contract_owners(engine, data / "contract_owners.csv")
    import_customers(engine, data / "customers.csv")
    import_invoices(engine, data / "invoices.csv")
    load_payouts(engine, data / "payouts.json")
    store = tmp_path / "store"
    ids = [receive_file(engine, store, f).feed_file_id for f in sorted(data.glob("statement-*"))]
    return store, ids


def _routes(engine: Engine, feed_file_id: int) -> tuple[list[Any], list[Any]]:
    r, s = staged_routes.c, staged_suggestions.c
    with engine.connect() as conn:
        routes = conn.execute(
            select(r.seq, r.status, r.reason, r.customer_id, r.partition)
            .where(r.feed_file_id == feed_file_id)
            .order_by(r.seq)
        ).all()
        suggestions = conn.execute(
            select(s.seq, s.customer_id, s.score, s.basis)
            .where(s.feed_file_id == feed_file_id)
            .order_by(s.seq, s.customer_id)
        ).all()
    return [tuple(x) for x in routes], [tuple(x) for x in suggestions]


def test_parts_in_any_order_route_as_the_whole_file(
    engine: Engine, files: tuple[Path, list[int]]
) -> None:
    store, ids = files
    first = ids[0]
    # A part of a file not read yet routes nothing: storing the file will.
    assert route_feed_file(engine, first, part=0, parts=2).status == "received"
    read = read_feed_file(engine, store, first, batch_size=BLOCK)
    assert read.status == "read"
    assert read.lines > 400
    assert _routes(engine, first) == ([], [])

    parts = 7
    routed = [
        route_feed_file(engine, first, part=k, parts=parts, batch_size=BLOCK)
        for k in (3, 0, 6, 1, 5, 2, 4)
    ]
    assert {r.status for r in routed} == {"routed"}
    assert sum(r.lines for r in routed) == read.lines
    in_parts = _routes(engine, first)
    assert len(in_parts[0]) == read.lines
    assert {row[1] for row in in_parts[0]} >= {"pending", "unmatched"}
    assert in_parts[1]  # the review queue's suggestions of the lines routed unmatched

    # Routing again replaces: the whole file as one part gives the same routes, once each,
    # in blocks of any size (a line's route does not depend on the lines routed with it).
    for block in (BLOCK, 7 * BLOCK):
        whole = route_feed_file(engine, first, batch_size=block)
        assert whole.lines == read.lines
        assert _routes(engine, first) == in_parts

    # A part that never ran: its lines have no route until the file is stored.
    missing = part_blocks(line_blocks(read.lines, BLOCK), 2, parts)
    with engine.begin() as conn:
        for table in (staged_routes, staged_suggestions):
            conn.execute(
                delete(table).where(
                    table.c.feed_file_id == first,
                    table.c.seq.between(missing[0].start, missing[-1].stop - 1),
                )
            )
    results = store_staged_files(engine, store, ids, batch_size=BLOCK)
    assert [r.status for r in results] == ["processed"] * len(ids)
    sl = t.statement_lines.c
    with engine.connect() as conn:
        stored = conn.execute(
            select(sl.seq, sl.status, sl.reason, sl.customer_id, sl.partition)
            .where(sl.feed_file_id == first)
            .order_by(sl.seq)
        ).all()
        ls = mt.line_suggestions.c
        suggested = conn.execute(
            select(sl.seq, ls.customer_id, ls.score, ls.basis)
            .join(t.statement_lines, sl.id == ls.statement_line_id)
            .where(sl.feed_file_id == first)
            .order_by(sl.seq, ls.customer_id)
        ).all()
    assert [tuple(x) for x in stored] == in_parts[0]
    assert [tuple(x) for x in suggested] == in_parts[1]
    assert _routes(engine, first) == ([], [])  # the staged rows went with the store
    # A part redelivered after the store routes nothing.
    assert route_feed_file(engine, first, part=1, parts=parts).status == "processed"
