"""Progress of long work (ingest, imports, reconcile, recompute) for whoever watches in this
process: the command line's progress bars, when the work runs in the command's own process (the
in-process broker). In a worker nobody watches and a report costs one context-variable read.

Services call `report(stage, done, total)`; `total` is None while unknown (a file's lines before
it is read to the end).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Sink = Callable[[str, int, int | None], None]

_sink: ContextVar[Sink | None] = ContextVar("payrecon_progress", default=None)


def report(stage: str, done: int, total: int | None = None) -> None:
    sink = _sink.get()
    if sink is not None:
        sink(stage, done, total)


def watched() -> bool:
    """Whether anyone watches (so a service may skip counting work for a total)."""
    return _sink.get() is not None


@contextmanager
def watched_by(sink: Sink) -> Iterator[None]:
    token = _sink.set(sink)
    try:
        yield
    finally:
        _sink.reset(token)
