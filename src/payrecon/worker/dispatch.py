"""Enqueueing the pipeline. Called only after the transaction that made the work has committed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from celery import chain

from payrecon.worker.tasks import ingest_file, recompute_balances, reconcile_pending


def enqueue_pipeline(feed_file_ids: Sequence[int]) -> Any:
    """ingest each file (in the order given), then reconcile, then recompute balances.

    Returns the AsyncResult of the last step; with the in-process broker it has already run.
    """
    steps = [ingest_file.si(feed_file_id=i) for i in feed_file_ids]
    steps += [reconcile_pending.si(), recompute_balances.si()]
    return chain(*steps).apply_async()
