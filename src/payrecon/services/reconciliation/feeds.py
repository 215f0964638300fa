"""Feed files as people see them: status, counts and the quarantine reason."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Engine, select

from payrecon.domain.errors import InvalidInput, NotFound
from payrecon.services.reconciliation.ingest import ReceivedFile, receive_file
from payrecon.store import tables as t
from payrecon.store.listing import ListQueryLike, apply_list_query

_CHUNK = 1 << 20


class UploadTooLarge(InvalidInput):
    code = "upload_too_large"


@dataclass(frozen=True, slots=True)
class FeedStatus:
    id: int
    filename: str
    format: str | None
    status: str
    source: str
    contract_owner_id: int | None
    line_count: int
    new_line_count: int
    error: str | None
    received_at: datetime
    processed_at: datetime | None


FEED_COLUMNS = {
    "id": t.feed_files.c.id,
    "filename": t.feed_files.c.filename,
    "format": t.feed_files.c.format,
    "status": t.feed_files.c.status,
    "source": t.feed_files.c.source,
    "contractOwnerId": t.feed_files.c.contract_owner_id,
    "lineCount": t.feed_files.c.line_count,
    "newLineCount": t.feed_files.c.new_line_count,
    "receivedAt": t.feed_files.c.received_at,
    "processedAt": t.feed_files.c.processed_at,
}


def _status(row: Any) -> FeedStatus:
    return FeedStatus(
        row.id,
        row.filename,
        row.format,
        row.status,
        row.source,
        row.contract_owner_id,
        row.line_count,
        row.new_line_count,
        row.error,
        row.received_at,
        row.processed_at,
    )


def feed_statuses(engine: Engine, feed_ids: Sequence[int]) -> list[FeedStatus]:
    query = (
        select(t.feed_files)
        .where(t.feed_files.c.id.in_(list(feed_ids)))
        .order_by(t.feed_files.c.id)
    )
    with engine.connect() as conn:
        return [_status(r) for r in conn.execute(query)]


def feed_status(engine: Engine, feed_id: int) -> FeedStatus:
    found = feed_statuses(engine, [feed_id])
    if not found:
        raise NotFound(f"feed file {feed_id} does not exist")
    return found[0]


def list_feeds(engine: Engine, query: ListQueryLike) -> tuple[list[FeedStatus], int]:
    page, count = apply_list_query(select(t.feed_files), FEED_COLUMNS, query)
    with engine.connect() as conn:
        return [_status(r) for r in conn.execute(page)], int(conn.execute(count).scalar_one())


def receive_upload(
    engine: Engine, store_dir: Path, stream: BinaryIO, filename: str, *, max_bytes: int
) -> ReceivedFile:
    """Copy an uploaded file to disk (refusing it past `max_bytes`), then receive it."""
    name = Path(filename or "upload").name  # never a path from the client
    store_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=store_dir, prefix=".upload-", delete=True) as tmp:
        size = 0
        while chunk := stream.read(_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise UploadTooLarge(
                    f"{name}: larger than the limit of {max_bytes} bytes",
                    details={"limit": max_bytes},
                )
            tmp.write(chunk)
        tmp.flush()
        if size == 0:
            raise InvalidInput(f"{name}: the uploaded file is empty")
        return receive_file(engine, store_dir, Path(tmp.name), filename=name, source="api")
