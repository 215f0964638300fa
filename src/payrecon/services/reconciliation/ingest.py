"""Receive bank files and turn them into stored statement lines.

Receiving copies a file into the content-addressed feed store and records it by SHA-256: a file seen
before is reported, not stored again. Ingesting takes two steps. Staging parses the stored copy
and routes each line (`routing`: pending in its customer's partition, or unmatched with its
reason and suggestions) into the staging tables, one transaction per file; the files of a run
are staged side by side, each by its own task. Storing then moves the staged lines of the run's
files into `statement_lines` in one transaction, in the run's file order, skipping lines already
known by (account, bank reference): a line two files share belongs to the first, whichever was
parsed first. A file that fails to parse or to verify is quarantined with the error and none of
its lines is written.
"""

from __future__ import annotations

import hashlib
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
    clear_staged,
    record_staged_file,
    stage_lines,
    staged_file,
    store_staged,
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


def stage_batch(conn: Connection, rows: list[dict[str, Any]], rules: RuleBook, now: Any) -> None:
    """Route each line (`routing.route_batch`) and stage it with its route and suggestions, in
    bulk (COPY on PostgreSQL)."""
    if not rows:
        return
    lines = [line_to_match(SimpleNamespace(id=k, **row)) for k, row in enumerate(rows)]
    routes = route_batch(conn, lines, rules)
    staged, suggested = [], []
    for row, routed in zip(rows, routes, strict=True):
        row.update(
            status=routed.status,
            partition=routed.partition,
            reason=routed.reason,
            customer_id=routed.customer_id,
        )
        staged.append(tuple(row[c] for c in LINE_COLUMNS))
        suggested += [
            (row["feed_file_id"], row["seq"], s.customer_id, s.score, s.basis, now)
            for s in routed.suggestions
        ]
    stage_lines(conn, staged, suggested)


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


def stage_feed_file(
    engine: Engine,
    store_dir: Path,
    feed_file_id: int,
    *,
    batch_size: int = 5000,
    rules: RuleBook | None = None,
) -> IngestResult:
    """Parse a received file and stage its lines, routed (status `staged`), for
    `store_staged_files`; staging it again replaces what was staged. A file that fails to parse
    or to verify is quarantined and nothing of it stays staged. Files of one run are staged
    side by side: routing reads reference data only, never another file's lines."""
    feed = _feed(engine, feed_file_id)
    if feed.status != "received":
        return _as_it_is(feed)
    path = stored_path(store_dir, feed.sha256)
    now = utcnow()
    with engine.begin() as conn:
        sync_invoice_keys(conn)  # routing reads invoices by their normalised numbers
    rules = rules or load_rule_book()
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
                stage_batch(conn, batch, rules, now)
                progress.report(f"ingesting {feed.filename}", lines)
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
    log.info("feeds.file.staged", feed_id=feed.id, filename=feed.filename, lines=lines, format=fmt)
    return IngestResult(feed.id, "staged", lines, 0)


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
    parsed first. A received file not staged yet is staged here first; a file processed or
    quarantined already is reported as it is. Re-running it adds nothing."""
    order = list(dict.fromkeys(feed_file_ids))
    with engine.connect() as conn:
        waiting = unstaged(conn, order)
    for feed_file_id in waiting:
        stage_feed_file(engine, store_dir, feed_file_id, batch_size=batch_size, rules=rules)
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
