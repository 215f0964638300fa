"""Provider tasks: poll one provider, poll every enabled one, process what webhooks stored.

`poll_provider` holds a Redis lock per provider while it syncs (redis-py `lock`, not blocking): a
second poll of the same provider finds it held and answers `{"skipped": "locked"}` instead of
doing the same work twice. The lock only saves work; the database keys keep the data right even
without it (the in-process broker of `make demo` has no Redis and takes no lock). A provider that
is down or rate-limiting us retries the task later (after `Retry-After` when the provider says).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import redis
from celery import chain
from redis.exceptions import LockError

from payrecon.config import Settings
from payrecon.container import Container
from payrecon.feeds.http import ProviderRateLimitedError, ProviderUnavailableError, make_client
from payrecon.services.providers.sync import (
    pollable_provider_ids,
    process_received_events,
    provider_clients,
    sync_provider,
)
from payrecon.worker.app import app
from payrecon.worker.tasks import PayreconTask, _recorded, reconcile_steps

LOCK_TIMEOUT = 30 * 60  # seconds; longer than any sync, short enough to outlive a dead worker
UNAVAILABLE_COUNTDOWN = 60  # seconds before retrying a provider that is down
QUEUE = "ingest"


def lock_name(provider_id: int) -> str:
    return f"payrecon:lock:poll_provider:{provider_id}"


@contextmanager
def provider_lock(settings: Settings, provider_id: int) -> Iterator[bool]:
    """True while this process holds the provider's sync lock, False if another one does."""
    if not settings.broker_url.startswith(("redis://", "rediss://")):
        yield True
        return
    client = redis.Redis.from_url(settings.broker_url)
    lock = client.lock(lock_name(provider_id), timeout=LOCK_TIMEOUT, blocking=False)
    acquired = bool(lock.acquire())
    try:
        yield acquired
    finally:
        if acquired:
            with suppress(LockError):  # it expired meanwhile: whoever holds it now keeps it
                lock.release()
        client.close()


def _retrying(task: Any, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return run()
    except ProviderRateLimitedError as exc:
        raise task.retry(exc=exc, countdown=max(1, round(exc.retry_after))) from None
    except ProviderUnavailableError as exc:
        raise task.retry(exc=exc, countdown=UNAVAILABLE_COUNTDOWN) from None


@app.task(name="payrecon.poll_provider", bind=True, base=PayreconTask)
def poll_provider(self: Any, *, provider_id: int) -> dict[str, Any]:
    def work(c: Container) -> dict[str, Any]:
        with provider_lock(c.settings, provider_id) as held:
            if not held:
                return {"provider_id": provider_id, "skipped": "locked"}
            with make_client() as http:
                return sync_provider(
                    c.engine, provider_id, provider_clients(http, c.credentials)
                ).as_counts()

    params = {"provider_id": provider_id}
    counts = _retrying(self, lambda: _recorded(self, "poll_provider", params, work))
    if counts.get("new_lines") or counts.get("lines_retried"):
        # Open-banking lines arrived, or lines whose payout's items arrived: match them and move
        # the balances, after this task's commits.
        chain(*reconcile_steps()).apply_async()
    return counts


@app.task(name="payrecon.poll_providers", bind=True, base=PayreconTask)
def poll_providers(self: Any) -> dict[str, Any]:
    """Fan out: one `poll_provider` per enabled provider with a feed."""
    counts = _recorded(
        self, "poll_providers", {}, lambda c: {"providers": pollable_provider_ids(c.engine)}
    )
    for provider_id in counts.get("providers", []):
        poll_provider.apply_async(kwargs={"provider_id": provider_id}, queue=QUEUE)
    return counts


@app.task(name="payrecon.process_provider_events", bind=True, base=PayreconTask)
def process_provider_events(self: Any, *, provider_id: int) -> dict[str, Any]:
    """Process the events a webhook stored (enqueued by the webhook route after its commit)."""

    def work(c: Container) -> dict[str, Any]:
        with make_client() as http:
            return process_received_events(
                c.engine, provider_id, provider_clients(http, c.credentials)
            )

    params = {"provider_id": provider_id}
    counts = _retrying(self, lambda: _recorded(self, "process_provider_events", params, work))
    if counts.get("lines_retried"):  # a payout's items arrived: settle the lines that waited
        chain(*reconcile_steps()).apply_async()
    return counts
