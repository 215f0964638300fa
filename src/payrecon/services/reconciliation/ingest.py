"""Receive bank files and turn them into stored statement lines.

Receiving copies a file into the content-addressed feed store and records it by SHA-256: a file seen
before is reported, not stored again. Ingesting takes three steps. Reading parses the stored copy
into the staging tables, one transaction per file; the files of a run are read side by side,
each by its own task. Routing decides each line's route (`routing`: pending in its customer's
partition, or unmatched with its reason and suggestions), in parts of a file that run side by
side (a part is a range of the file's blocks of lines, the same blocks whoever routes them, so
the routes do not depend on how many parts there are). Storing then moves the staged lines of
the run's files into `statement_lines` in one transaction, in the run's file order, skipping
lines already known by (account, bank reference): a line two files share belongs to the first,
whichever was read first. A file that fails to parse or to verify is quarantined with the error
and none of its lines is written.
"""

from __future__ import annotations

import hashlib
import math
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from payrecon.domain.errors import FeedFormatError, NotFound
from payrecon.domain.lines import StatementLine
from payrecon.domain.matching.rules import RuleBook
from payrecon.feeds import FeedNotice, detect_format, read_feed
from payrecon.logging import get_logger
from payrecon.services.clock import utcnow
from payrecon.services.operations import progress
from payrecon.services.reconciliation.owner_accounts import owner_accounts, owner_of_account
from payrecon.services.reconciliation.routing import route_batch
from payrecon.services.rules import load_rule_book
from payrecon.store import matching_tables as mt
from payrecon.store import tables as t
from payrecon.store.bulk import analyze_after_load, batched, insert_ignoring_conflicts
from payrecon.store.line_staging import (
    LINE_COLUMNS,
    clear_routes,
    clear_staged,
    record_staged_file,
    stage_lines,
    stage_routes,
    staged_block,
    staged_file,
    store_staged,
    unrouted_seqs,
    unstaged,
)
from payrecon.store.queries import line_to_match, sync_invoice_keys

log = get_logger(__name__)
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ReceivedFile:
    feed_file_id: int
    filename: str
    sha256: str
    duplicate: bool
    status: str


@dataclass(frozen=True, slots=True)
class IngestResult:
    feed_file_id: int
    status: str
    lines: int
    new_lines: int
    error: str | None = None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def stored_path(store_dir: Path, sha256: str) -> Path:
    return store_dir / sha256[:2] / sha256


def receive_file(
    engine: Engine,
    store_dir: Path,
    path: Path,
    *,
    filename: str | None = None,
    source: str = "cli",
    retry: bool = False,
) -> ReceivedFile:
    """Record `path` as a feed file (once per content) and keep a copy for the workers.

    A file seen before is a duplicate, with two exceptions that a person sending it again means
    as a retry: a file never ingested to the end (still `received`: its worker failed, or its
    pipeline stopped) and a quarantined one (nothing of it was written) are ingested again; and
    with `retry`, even a processed file is handed to the pipeline again, which stores nothing
    twice and reconciles whatever of it is still pending."""
    name = filename or path.name
    sha = sha256_of(path)
    with engine.begin() as conn:
        known = conn.execute(
            select(t.feed_files.c.id, t.feed_files.c.status).where(t.feed_files.c.sha256 == sha)
        ).first()
        if known is not None and known.status == "quarantined":
            # Nothing of a quarantined file was written, so sending it again (after the bank
            # account was configured, say) simply retries it.
            conn.execute(
                update(t.feed_files)
                .where(t.feed_files.c.id == known.id)
                .values(status="received", error=None, source=source, processed_at=None)
            )
            log.info("feeds.file.retried", filename=name, feed_id=known.id, sha256=sha)
            return ReceivedFile(known.id, name, sha, duplicate=False, status="received")
        if known is not None and (known.status == "received" or retry):
            log.info("feeds.file.retried", filename=name, feed_id=known.id, sha256=sha)
            return ReceivedFile(known.id, name, sha, duplicate=False, status=known.status)
        if known is not None:
            log.info("feeds.file.duplicate", filename=name, feed_id=known.id, sha256=sha)
            return ReceivedFile(known.id, name, sha, duplicate=True, status=known.status)
        target = stored_path(store_dir, sha)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".partial")
            shutil.copyfile(path, tmp)
            tmp.replace(target)
        ids = insert_ignoring_conflicts(
            conn,
            t.feed_files,
            [
                {
                    "sha256": sha,
                    "filename": name,
                    "status": "received",
                    "source": source,
                    "received_at": utcnow(),
                }
            ],
            ["sha256"],
        )
        if not ids:  # a concurrent receiver won the race: same content, one row
            row = conn.execute(select(t.feed_files.c.id).where(t.feed_files.c.sha256 == sha)).one()
            return ReceivedFile(row.id, name, sha, duplicate=True, status="received")
    log.info("feeds.file.received", filename=name, feed_id=ids[0], sha256=sha)
    return ReceivedFile(ids[0], name, sha, duplicate=False, status="received")


class UnknownAccount(FeedFormatError):
    """The statement is of a bank account no contract owner has: quarantined, not guessed."""


class _OwnerOf:
    """The contract owner of each line's account, resolved once per account of the file."""

    def __init__(self, accounts: dict[str, int], filename: str) -> None:
        self.accounts = accounts
        self.filename = filename
        self.seen: dict[str, int] = {}

    def __call__(self, line: StatementLine, seq: int) -> int:
        owner = self.seen.get(line.account)
        if owner is None:
            owner = owner_of_account(self.accounts, line.account)
            if owner is None:
                raise UnknownAccount(
                    self.filename,
                    f"line {seq} (account {line.account})",
                    "no contract owner has this bank account; configure it on the owner",
                )
            self.seen[line.account] = owner
        return owner


def statement_line_row(
    feed_file_id: int, owner_id: int | None, seq: int, line: StatementLine, now: Any
) -> dict[str, Any]:
    """The `statement_lines` row of a normalised line, pending; every way in writes this."""
    return {
        "feed_file_id": feed_file_id,
        "contract_owner_id": owner_id,
        "seq": seq,
        "account": line.account,
        "external_id": line.external_id,
        "booking_date": line.booking_date,
        "value_date": line.value_date,
        "amount": line.amount,
        "currency": line.currency,
        "counterparty_name": line.counterparty_name,
        "counterparty_account": line.counterparty_account,
        "remittance": line.remittance,
        "structured_reference": line.structured_reference,
        "end_to_end_id": line.end_to_end_id,
        "mandate_id": line.mandate_id,
        "bank_transaction_code": line.bank_transaction_code,
        "return_reason": line.return_reason,
        "status": "pending",
        "created_at": now,
    }


def _lines_logging_notices(path: Path, feed_id: int, filename: str) -> Iterator[StatementLine]:
    """The file's lines; the reader's notices (entries skipped, a stray part set aside, a field
    cut) are logged, since a person must be able to find out why a file gave fewer lines."""
    for item in read_feed(path):
        if isinstance(item, StatementLine):
            yield item
        elif isinstance(item, FeedNotice):
            log.warning(
                "feeds.file.notice",
                feed_id=feed_id,
                filename=filename,
                place=item.place,
                notice=item.message,
            )


def line_blocks(line_count: int, batch_size: int) -> list[range]:
    """A file's lines in blocks of `batch_size` seqs (the last one shorter): the unit routing
    takes, whichever part of the file routes it."""
    return [
        range(first, min(first + batch_size, line_count + 1))
        for first in range(1, line_count + 1, batch_size)
    ]


def part_blocks(blocks: Sequence[range], part: int, parts: int) -> Sequence[range]:
    """The blocks of part `part` of `parts`: consecutive, and as many as the others give or
    take one. A part beyond the blocks has none."""
    return blocks[len(blocks) * part // parts : len(blocks) * (part + 1) // parts]


def parts_for(size: int, part_bytes: int) -> int:
    """Into how many parts a file of `size` bytes is routed: one per `part_bytes` begun."""
    return max(1, math.ceil(size / part_bytes))


def route_parts(
    engine: Engine, store_dir: Path, feed_file_ids: Sequence[int], part_bytes: int
) -> list[tuple[int, int]]:
    """Each file's id with the number of parts a run routes it in (`parts_for` its stored
    copy's size; one for a file whose copy this process cannot see)."""
    f = t.feed_files
    with engine.connect() as conn:
        shas = dict(conn.execute(select(f.c.id, f.c.sha256).where(f.c.id.in_(feed_file_ids))).all())
    planned = []
    for feed_file_id in feed_file_ids:
        sha = shas.get(feed_file_id)
        path = stored_path(store_dir, sha) if sha else None
        size = path.stat().st_size if path is not None and path.is_file() else 0
        planned.append((feed_file_id, parts_for(size, part_bytes)))
    return planned


def route_block(conn: Connection, feed_file_id: int, seqs: range, rules: RuleBook, now: Any) -> int:
    """Route the staged lines of `seqs` (`routing.route_batch`) and stage their routes and
    suggestions, replacing what an earlier try routed of them; returns how many."""
    rows = staged_block(conn, feed_file_id, seqs)
    clear_routes(conn, feed_file_id, seqs)
    if not rows:
        return 0
    lines = [line_to_match(SimpleNamespace(id=row.seq, **row._mapping)) for row in rows]
    routes = route_batch(conn, lines, rules)
    staged = [
        (feed_file_id, row.seq, r.status, r.reason, r.customer_id, r.partition)
        for row, r in zip(rows, routes, strict=True)
    ]
    suggested = [
        (feed_file_id, row.seq, s.customer_id, s.score, s.basis, now)
        for row, r in zip(rows, routes, strict=True)
        for s in r.suggestions
    ]
    stage_routes(conn, staged, suggested)
    return len(rows)


def _feed(engine: Engine, feed_file_id: int) -> Any:
    with engine.connect() as conn:
        feed = conn.execute(select(t.feed_files).where(t.feed_files.c.id == feed_file_id)).first()
    if feed is None:
        raise NotFound(f"feed file {feed_file_id} does not exist")
    return feed


def _as_it_is(feed: Any) -> IngestResult:
    """A file already processed or quarantined, as it stands."""
    return IngestResult(feed.id, feed.status, feed.line_count, 0, feed.error)


def _locked(conn: Connection, feed_file_ids: list[int]) -> dict[int, Any]:
    """The files' rows, locked (PostgreSQL) until the transaction ends, in id order."""
    f = t.feed_files
    rows = conn.execute(
        select(f).where(f.c.id.in_(feed_file_ids)).order_by(f.c.id).with_for_update()
    )
    return {r.id: r for r in rows}


def read_feed_file(
    engine: Engine, store_dir: Path, feed_file_id: int, *, batch_size: int = 5000
) -> IngestResult:
    """Parse a received file and stage its lines (status `read`), for `route_feed_file`;
    reading it again replaces what was staged. A file that fails to parse or to verify is
    quarantined and nothing of it stays staged. Files of one run are read side by side."""
    feed = _feed(engine, feed_file_id)
    if feed.status != "received":
        return _as_it_is(feed)
    path = stored_path(store_dir, feed.sha256)
    now = utcnow()
    with engine.begin() as conn:
        sync_invoice_keys(conn)  # routing reads invoices by their normalised numbers
    try:
        fmt = detect_format(path)
        with engine.begin() as conn:
            locked = _locked(conn, [feed.id]).get(feed.id)
            if locked is None or locked.status != "received":  # stored meanwhile (a redelivery)
                return _as_it_is(locked or feed)
            clear_staged(conn, feed.id)
            lines = 0
            owner_of = _OwnerOf(owner_accounts(conn), feed.filename)
            rows = (
                statement_line_row(feed.id, owner_of(line, seq), seq, line, now)
                for seq, line in enumerate(
                    _lines_logging_notices(path, feed.id, feed.filename), start=1
                )
            )
            for batch in batched(rows, batch_size):
                lines += len(batch)
                stage_lines(conn, [tuple(row[c] for c in LINE_COLUMNS) for row in batch])
                progress.report(f"reading {feed.filename}", lines)
            owner = next(iter(owner_of.seen.values()), None)
            record_staged_file(conn, feed.id, fmt, lines, owner, utcnow())
    except FeedFormatError as exc:
        # The file's own name, not the store's content address, is what a person recognises.
        error = f"{feed.filename}: {exc.place}: {exc.problem}"
        with engine.begin() as conn:
            clear_staged(conn, feed.id)  # what an earlier try staged of it
            conn.execute(
                update(t.feed_files)
                .where(t.feed_files.c.id == feed.id)
                .values(status="quarantined", error=error, processed_at=utcnow())
            )
        log.warning("feeds.file.quarantined", feed_id=feed.id, filename=feed.filename, error=error)
        return IngestResult(feed.id, "quarantined", 0, 0, error)
    log.info("feeds.file.read", feed_id=feed.id, filename=feed.filename, lines=lines, format=fmt)
    return IngestResult(feed.id, "read", lines, 0)


def route_feed_file(
    engine: Engine,
    feed_file_id: int,
    *,
    part: int = 0,
    parts: int = 1,
    batch_size: int = 5000,
    rules: RuleBook | None = None,
) -> IngestResult:
    """Route part `part` of `parts` of a read file (status `routed`, with how many lines it
    routed); routing it again replaces its routes. The parts of a file run side by side (each
    holds the file's row in share mode, so a file is not read again under them); a file not
    read yet is left to `store_staged_files`, which reads and routes it."""
    if not 0 <= part < parts:
        raise ValueError(f"part {part} of {parts}: a part is 0 to parts - 1")
    rules = rules or load_rule_book()
    now = utcnow()
    f = t.feed_files
    with engine.begin() as conn:
        feed = conn.execute(
            select(f).where(f.c.id == feed_file_id).with_for_update(read=True)
        ).first()
        if feed is None:
            raise NotFound(f"feed file {feed_file_id} does not exist")
        staged = staged_file(conn, feed.id) if feed.status == "received" else None
        if staged is None:  # processed or quarantined already, or not read
            return IngestResult(feed.id, feed.status, 0, 0, feed.error)
        blocks = part_blocks(line_blocks(staged.line_count, batch_size), part, parts)
        routed = 0
        label = f"routing {feed.filename}" + (f" (part {part + 1} of {parts})" if parts > 1 else "")
        for seqs in blocks:
            routed += route_block(conn, feed.id, seqs, rules, now)
            progress.report(label, routed)
    log.info(
        "feeds.file.routed", feed_id=feed.id, filename=feed.filename, part=part, parts=parts,
        lines=routed,
    )  # fmt: skip
    return IngestResult(feed.id, "routed", routed, 0)


def stage_feed_file(
    engine: Engine,
    store_dir: Path,
    feed_file_id: int,
    *,
    batch_size: int = 5000,
    rules: RuleBook | None = None,
) -> IngestResult:
    """Read a received file and route all of it (status `staged`), for `store_staged_files`;
    staging it again replaces what was staged. A file that fails to parse or to verify is
    quarantined and nothing of it stays staged."""
    read = read_feed_file(engine, store_dir, feed_file_id, batch_size=batch_size)
    if read.status != "read":
        return read
    route_feed_file(engine, feed_file_id, batch_size=batch_size, rules=rules)
    return IngestResult(read.feed_file_id, "staged", read.lines, 0)


def _route_unrouted(
    engine: Engine, feed_file_ids: Sequence[int], batch_size: int, rules: RuleBook | None
) -> None:
    """Route the blocks of the files' staged lines that have no route (a part that never ran)."""
    with engine.begin() as conn:
        for feed in _locked(conn, list(feed_file_ids)).values():
            staged = staged_file(conn, feed.id) if feed.status == "received" else None
            if staged is None:
                continue
            missing = unrouted_seqs(conn, feed.id, staged.line_count)
            if not missing:
                continue
            rules = rules or load_rule_book()
            blocks = line_blocks(staged.line_count, batch_size)
            for number in sorted({(seq - 1) // batch_size for seq in missing}):
                route_block(conn, feed.id, blocks[number], rules, utcnow())
            log.info("feeds.file.routed_late", feed_id=feed.id, lines=len(missing))


def store_staged_files(
    engine: Engine,
    store_dir: Path,
    feed_file_ids: Sequence[int],
    *,
    batch_size: int = 5000,
    rules: RuleBook | None = None,
) -> list[IngestResult]:
    """Store the staged lines of the files, in the order given, in one transaction: a line two
    files share (the same account and bank reference) belongs to the first, whichever was
    parsed first. A received file not read yet is read here first, and lines without a route
    are routed; a file processed or quarantined already is reported as it is. Re-running it
    adds nothing."""
    order = list(dict.fromkeys(feed_file_ids))
    with engine.connect() as conn:
        waiting = unstaged(conn, order)
    for feed_file_id in waiting:
        read_feed_file(engine, store_dir, feed_file_id, batch_size=batch_size)
    _route_unrouted(engine, order, batch_size, rules)
    results: list[IngestResult] = []
    with engine.begin() as conn:
        feeds = _locked(conn, order)
        for feed_file_id in order:
            feed = feeds.get(feed_file_id)
            if feed is None:
                raise NotFound(f"feed file {feed_file_id} does not exist")
            staged = staged_file(conn, feed.id) if feed.status == "received" else None
            if staged is None:
                results.append(_as_it_is(feed))
                continue
            new = store_staged(conn, feed.id)
            conn.execute(
                update(t.feed_files)
                .where(t.feed_files.c.id == feed.id)
                .values(
                    contract_owner_id=staged.contract_owner_id,
                    status="processed",
                    format=staged.format,
                    line_count=staged.line_count,
                    new_line_count=new,
                    processed_at=utcnow(),
                )
            )
            results.append(IngestResult(feed.id, "processed", staged.line_count, new))
    stored = sum(r.new_lines for r in results)
    analyze_after_load(engine, {t.statement_lines: stored, mt.line_suggestions: stored})
    for r, feed_file_id in zip(results, order, strict=True):
        if r.status == "processed":
            log.info(
                "feeds.file.processed",
                feed_id=feed_file_id,
                filename=feeds[feed_file_id].filename,
                lines=r.lines,
                new_lines=r.new_lines,
            )
    return results


def ingest_feed_file(
    engine: Engine,
    store_dir: Path,
    feed_file_id: int,
    *,
    batch_size: int = 5000,
    rules: RuleBook | None = None,
) -> IngestResult:
    """Parse a received file and store its new lines (stage, then store); re-running it adds
    nothing."""
    staged = stage_feed_file(engine, store_dir, feed_file_id, batch_size=batch_size, rules=rules)
    if staged.status != "staged":
        return staged
    (stored,) = store_staged_files(
        engine, store_dir, [feed_file_id], batch_size=batch_size, rules=rules
    )
    return stored
