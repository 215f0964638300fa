"""The container of a process: its settings and its database engine, built once from the
environment. The worker's tasks read it here; `bootstrap` adds the wiring the entrypoints need
(the pipeline port, wired to Celery)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from sqlalchemy import Engine

from payrecon.config import Settings
from payrecon.logging import configure_logging
from payrecon.services.providers.credentials import ProviderCredentials
from payrecon.store.db import make_engine
from payrecon.store.secrets import SecretBox, parse_key_ring


@dataclass(frozen=True)
class Container:
    settings: Settings
    engine: Engine

    @property
    def credentials(self) -> ProviderCredentials:
        """Provider secrets sealed with `PAYRECON_SECRETS_KEY`; base URLs held to the hosts."""
        return provider_credentials(self.settings)


def provider_credentials(settings: Settings) -> ProviderCredentials:
    return _credentials(settings.secrets_key.get_secret_value(), settings.local_sandbox_allowed)


@cache
def _credentials(key_ring: str, local_sandbox_allowed: bool) -> ProviderCredentials:
    box = SecretBox(parse_key_ring(key_ring))
    return ProviderCredentials(box=box, local_sandbox_allowed=local_sandbox_allowed)


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
