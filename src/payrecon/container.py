"""The container of a process: its settings and its database engine, built once from the
environment. The worker's tasks read it here; `bootstrap` adds the wiring the entrypoints need
(the pipeline port, wired to Celery)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from payrecon.config import Settings
from payrecon.logging import configure_logging
from payrecon.store.db import make_engine


@dataclass(frozen=True)
class Container:
    settings: Settings
    engine: Engine


def build_container(settings: Settings | None = None) -> Container:
    settings = settings or Settings()
    configure_logging(settings.log_format, settings.log_level)
    settings.feed_store_dir.mkdir(parents=True, exist_ok=True)
    return Container(settings=settings, engine=make_engine(settings.database_url))


_process_container: Container | None = None


def get_container() -> Container:
    """The process-wide container, built on first use from the environment."""
    global _process_container
    if _process_container is None:
        _process_container = build_container()
    return _process_container


def install_container(container: Container) -> None:
    """Make `container` the process-wide one. With the in-process broker the tasks run in the
    process that enqueues them, so they must use that process's container (the API's own)."""
    global _process_container
    _process_container = container
