"""The composition root: settings, logging, the engine. Entrypoints get everything from here."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

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


@lru_cache(maxsize=1)
def get_container() -> Container:
    """The process-wide container, built on first use from the environment."""
    return build_container()
