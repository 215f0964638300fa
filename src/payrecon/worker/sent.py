"""The book of sent messages (Redis broker): what was published, kept until its task ran, so a
message lost between the broker and a worker is sent again.

Why: Redis hands a message to a worker with `BRPOP`, which takes it off the queue, and only then
does the worker write it to the `unacked` hash. A worker killed in between (SIGKILL, a host lost)
takes the message with it: it is on no queue, in no hash, and no run of it ever starts; a chain
or a chord waiting for it would wait for ever (seen in the fault suite: a reconcile partition
killed at the moment it was taken). RabbitMQ has no such gap.

Every publish of a payrecon task writes its message to the `payrecon.sent` hash (after the
publish succeeded). Recovery (`missing`) looks at the entries older than `MISSING_AFTER`
seconds: one whose task ran to an end is dropped; one that is on a queue, unacknowledged, or
held by a worker is left; one that is none of these in two passes in a row (a worker between
`BRPOP` and its `unacked` write is so for microseconds, not for ten seconds) is published again
with the same id, headers and body, once (`SET NX` on a claim, so two workers' recoveries do
not both send it). Its work is idempotent like every task's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from celery import signals
from kombu.utils.json import dumps, loads

from payrecon.logging import get_logger
from payrecon.services.operations.task_runs import running_or_ended_task_ids

log = get_logger(__name__)
SENT_KEY = "payrecon.sent"
CLAIM_PREFIX = "payrecon.resend."
MISSING_AFTER = 45.0
_clients: dict[tuple[int, str], Any] = {}
_seen_missing: dict[str, float] = {}  # this process's previous pass: task id -> when


def _redis(url: str) -> Any:
    """One client per process and broker (a forked child makes its own)."""
    key = (os.getpid(), url)
    if key not in _clients:
        import redis

        _clients[key] = redis.Redis.from_url(url)
    return _clients[key]


def is_redis(url: str) -> bool:
    return url.startswith(("redis://", "rediss://"))


def record(
    client: Any, headers: dict[str, Any], body: Any, exchange: str, routing_key: str
) -> None:
    """Write one published message to the book."""
    entry = {"at": time.time(), "headers": headers, "body": body}
    entry |= {"exchange": exchange or "", "routing_key": routing_key}
    client.hset(SENT_KEY, headers["id"], dumps(entry))


def booking_app() -> Any:
    """The app whose broker the book is kept on: the process's (a signal names no app)."""
    from payrecon.worker.app import app

    return app


@signals.after_task_publish.connect
def _book_the_message(
    sender: str | None = None,
    headers: dict[str, Any] | None = None,
    body: Any = None,
    exchange: str = "",
    routing_key: str = "",
    **_: Any,
) -> None:
    app = booking_app()
    url = str(app.conf.broker_url)
    if not headers or not headers.get("id") or not str(sender).startswith("payrecon."):
        return
    if not is_redis(url) or app.conf.task_always_eager:
        return
    try:
        record(_redis(url), headers, body, exchange, routing_key)
    except Exception as error:  # the broker took the message: losing the book entry is
        log.warning("tasks.sent.not_booked", error=type(error).__name__)  # not losing work


def _queued_ids(client: Any, channel: Any, queues: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for queue in queues:
        for priority in channel.priority_steps:
            for raw in client.lrange(channel._q_for_pri(queue, priority), 0, -1):
                found.add(str((loads(raw).get("headers") or {}).get("id")))
    for raw in client.hvals(channel.qos.unacked_key):
        found.add(str((loads(raw)[0].get("headers") or {}).get("id")))
    return found


def missing(
    app: Any, engine: Any, held: Callable[[], set[str] | None], *, now: float | None = None
) -> list[dict[str, Any]]:
    """The booked messages to send again (see the module's doc); drops the entries of tasks
    that ran to an end. `held()`: what the workers hold, asked only when a message is missing
    (None when asking failed: then nothing is sent again this pass)."""
    now = time.time() if now is None else now
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        client = channel.client
        entries = {
            (k.decode() if isinstance(k, bytes) else k): loads(v)
            for k, v in client.hgetall(SENT_KEY).items()
        }
        old = {k: e for k, e in entries.items() if e["at"] < now - MISSING_AFTER}
        if not old:
            return []
        ended = running_or_ended_task_ids(engine, set(old))
        done = [k for k in ended if k in old]
        if done:
            client.hdel(SENT_KEY, *done)
        candidates = set(old) - ended
        if candidates:
            candidates -= _queued_ids(client, channel, list(app.amqp.queues))
        if not candidates:
            _seen_missing.clear()
            return []
        holding = held()
        if holding is None:
            return []
        candidates -= holding
        twice = {k for k in candidates if k in _seen_missing}
        _seen_missing.clear()
        _seen_missing.update(dict.fromkeys(candidates - twice, now))
        return [{"id": k, **old[k]} for k in sorted(twice)]


def send_again(app: Any, messages: list[dict[str, Any]], *, now: float | None = None) -> int:
    """Publish each message again as it was (same id, headers and body), once across workers."""
    sent = 0
    now = time.time() if now is None else now
    with app.connection_for_write() as connection:
        client = connection.default_channel.client
        producer = connection.Producer()
        for message in messages:
            if not client.set(CLAIM_PREFIX + message["id"], "1", nx=True, ex=int(MISSING_AFTER)):
                continue  # another worker's recovery sends it
            producer.publish(
                message["body"],
                exchange=message["exchange"],
                routing_key=message["routing_key"],
                headers=message["headers"],
                serializer="json",
                correlation_id=message["id"],
            )
            client.hset(SENT_KEY, message["id"], dumps({**message, "at": now}))
            log.warning(
                "tasks.sent_again", task_id=message["id"], task=message["headers"].get("task")
            )
            sent += 1
    return sent
