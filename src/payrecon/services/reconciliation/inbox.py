"""The inbox: a directory where banks' files are dropped (SFTP, a mounted share). A scan ingests
each waiting file, then moves it to `done/`, or to `quarantine/` beside a `.reason.txt` saying why.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from payrecon.logging import get_logger
from payrecon.services.reconciliation.ingest import ingest_feed_file, receive_file

log = get_logger(__name__)


@dataclass(slots=True)
class InboxScan:
    files: int = 0
    processed: int = 0
    duplicates: int = 0
    quarantined: int = 0
    new_lines: int = 0
    feed_file_ids: list[int] = field(default_factory=list)

    def as_counts(self) -> dict[str, int]:
        return {
            "files": self.files,
            "processed": self.processed,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "new_lines": self.new_lines,
        }


def waiting_files(inbox: Path) -> list[Path]:
    """Files ready to take, oldest first; dot-files and partial uploads are left alone."""
    if not inbox.is_dir():
        return []
    files = [
        p
        for p in inbox.iterdir()
        if p.is_file() and not p.name.startswith(".") and not p.name.endswith((".partial", ".tmp"))
    ]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


def _move(path: Path, folder: Path, tag: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if target.exists():
        target = folder / f"{path.stem}.{tag[:12]}{path.suffix}"
    shutil.move(str(path), target)
    return target


def scan_inbox(engine: Engine, store_dir: Path, inbox: Path) -> InboxScan:
    scan = InboxScan()
    for path in waiting_files(inbox):
        scan.files += 1
        received = receive_file(engine, store_dir, path)
        if received.duplicate:
            scan.duplicates += 1
            _move(path, inbox / "done", received.sha256)
            continue
        result = ingest_feed_file(engine, store_dir, received.feed_file_id)
        scan.feed_file_ids.append(received.feed_file_id)
        if result.status == "quarantined":
            scan.quarantined += 1
            moved = _move(path, inbox / "quarantine", received.sha256)
            moved.with_name(moved.name + ".reason.txt").write_text(
                f"{result.error}\n", encoding="utf-8"
            )
        else:
            scan.processed += 1
            scan.new_lines += result.new_lines
            _move(path, inbox / "done", received.sha256)
    if scan.files:
        log.info("feeds.inbox.scanned", **scan.as_counts())
    return scan
