"""How task runs end, and what recovery puts back: a run whose delivery is retried is settled
`retried` once the retry starts (none stays `retrying`); a run its worker stopped (SystemExit:
a lost broker connection cancels running tasks) ends `interrupted` and its unacknowledged
message goes back to its queue on the real Redis broker; lost runs are found by their beat, or at once when their process is seen gone."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from celery import chain, group
from sqlalchemy import Engine, select, update

from payrecon.config import Settings
from payrecon.services.clock import utcnow
from payrecon.services.operations.task_runs import (
    interrupted_task_ids,
    recorded_run,
    recover_lost_runs,
)
from payrecon.services.operations.worker_process import this_process
from payrecon.store import tables as t
from payrecon.worker import sent
from payrecon.worker.app import create_celery
from payrecon.worker.recovery import ORPHANED_AFTER, orphaned, put_back
from tests.services import claim_redis_database, redis_url


class Transient(Exception):
    pass


def _statuses(engine: Engine, task_id: str) -> list[str]:
    with engine.connect() as conn:
        query = select(t.task_runs.c.status).where(t.task_runs.c.task_id == task_id)
        return list(conn.execute(query.order_by(t.task_runs.c.id)).scalars())


def _attempt(engine: Engine, task_id: str, error: BaseException | None) -> None:
    retrying = lambda exc: isinstance(exc, Transient)  # noqa: E731
    try:
        with recorded_run(engine, "ingest_file", task_id=task_id, params={}, retrying=retrying):
            if error is not None:
                raise error
    except (Transient, SystemExit, ValueError):
        pass


def test_a_retried_delivery_settles_the_attempts_before_it(engine: Engine) -> None:
    _attempt(engine, "task-a", Transient("connection dropped"))
    assert _statuses(engine, "task-a") == ["retrying"]
    _attempt(engine, "task-a", SystemExit(-241))
    assert _statuses(engine, "task-a") == ["retried", "interrupted"]
    _attempt(engine, "task-a", None)
    assert _statuses(engine, "task-a") == ["retried", "retried", "succeeded"]
    _attempt(engine, "task-b", ValueError("bad file"))
    assert _statuses(engine, "task-b") == ["failed"]


def test_only_interrupted_tasks_without_a_later_delivery_are_to_be_put_back(
    engine: Engine,
) -> None:
    _attempt(engine, "stopped", SystemExit(-241))
    _attempt(engine, "failed", ValueError("bad"))
    _attempt(engine, "done", None)
    assert interrupted_task_ids(engine) == {"stopped"}
    # A redelivery that started before the stopped attempt wrote its end: not put back twice.
    with recorded_run(engine, "ingest_file", task_id="stopped", params={}):
        with engine.begin() as conn:
            first = min(
                conn.execute(
                    select(t.task_runs.c.id).where(t.task_runs.c.task_id == "stopped")
                ).scalars()
            )
            conn.execute(
                update(t.task_runs).where(t.task_runs.c.id == first).values(status="interrupted")
            )
        assert interrupted_task_ids(engine) == set()


def test_a_run_whose_worker_stopped_beating_is_marked_lost_once(engine: Engine) -> None:
    with recorded_run(engine, "reconcile_partition", task_id="beats", params={}):
        pass
    _attempt(engine, "fresh", None)
    with engine.begin() as conn:
        conn.execute(
            t.task_runs.insert().values(
                task_id="silent",
                name="reconcile_partition",
                status="running",
                params={},
                counts={},
                started_at=utcnow() - timedelta(minutes=5),
                heartbeat_at=utcnow() - timedelta(minutes=2),
            )
        )
    assert recover_lost_runs(engine, lost_after=45) == [("silent", "reconcile_partition")]
    assert recover_lost_runs(engine, lost_after=45) == []  # another worker finds nothing left
    assert _statuses(engine, "silent") == ["lost"]


def test_a_run_whose_process_exited_on_this_machine_is_lost_at_once(engine: Engine) -> None:
    script = "from payrecon.services.operations.worker_process import this_process as p; print(p())"
    exited = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    for task_id, worker in (("killed", exited.stdout.strip()), ("alive", this_process())):
        with engine.begin() as conn:
            conn.execute(
                t.task_runs.insert().values(
                    task_id=task_id,
                    name="ingest_file",
                    status="running",
                    params={},
                    counts={},
                    started_at=utcnow(),
                    heartbeat_at=utcnow(),  # beating a moment ago: the heartbeat alone would wait
                    worker=worker,
                )
            )
    assert recover_lost_runs(engine, lost_after=45) == [("killed", "ingest_file")]
    assert _statuses(engine, "killed") == ["lost"]
    assert _statuses(engine, "alive") == ["running"]
    # Its redelivery counts it among the deliveries that died with their worker.
    with engine.begin() as conn:
        conn.execute(
            t.task_runs.insert().values(
                task_id="redelivered", name="ingest_file", status="running", params={},
                counts={}, started_at=utcnow(), heartbeat_at=utcnow(), worker=exited.stdout.strip(),
            )
        )  # fmt: skip
    with recorded_run(engine, "ingest_file", task_id="redelivered", params={}, max_deliveries=3):
        pass
    assert _statuses(engine, "redelivered") == ["lost", "succeeded"]


@pytest.fixture
def redis_app() -> Iterator[Any]:
    broker = f"{redis_url()}/{claim_redis_database('test_task_runs')}"
    app = create_celery(Settings(broker_url=broker, result_backend=broker, environment="test"))
    yield app
    with app.connection_for_write() as connection:
        connection.default_channel.client.flushdb()


def test_an_unacknowledged_message_is_put_back_on_its_queue(redis_app: Any) -> None:
    app = redis_app
    for task_id in ("interrupted-1", "still-running-2"):
        app.send_task("payrecon.ingest_file", kwargs={"feed_file_id": 1}, task_id=task_id)
    # A consumer that took both and acknowledged neither (it stays connected: closing its
    # channel would hand them back itself, which a broker that is down cannot take).
    with app.connection_for_write() as consumer:
        channel = consumer.default_channel
        assert all(channel.basic_get("ingest", no_ack=False) is not None for _ in range(2))
        client = channel.client
        assert client.llen("ingest") == 0
        assert client.hlen(channel.qos.unacked_key) == 2

        assert put_back(app, {"interrupted-1"}) == 1
        assert put_back(app, {"interrupted-1"}) == 0  # put back once, whoever asks again

        assert client.llen("ingest") == 1
        assert client.hlen(channel.qos.unacked_key) == 1
        raw = client.lindex("ingest", 0)
        assert json.loads(raw)["headers"]["id"] == "interrupted-1"


def test_a_message_received_and_dropped_before_it_started_is_put_back(
    redis_app: Any, engine: Engine
) -> None:
    """A worker whose Redis connection dropped forgets what it had received and not started; the
    broker, down then, kept it unacknowledged. Once it is old enough, held by no worker, and no
    run of it runs or ended, recovery finds it (a retry due later and a running task are not)."""
    app = redis_app
    app.send_task("payrecon.ingest_file", kwargs={"feed_file_id": 1}, task_id="dropped")
    app.send_task("payrecon.ingest_file", kwargs={"feed_file_id": 1}, task_id="running")
    app.send_task("payrecon.ingest_file", kwargs={"feed_file_id": 1}, task_id="done")
    app.send_task(
        "payrecon.ingest_file", kwargs={"feed_file_id": 1}, task_id="retry", countdown=3600
    )
    with engine.begin() as conn:
        for task_id, status in (("running", "running"), ("done", "succeeded")):
            conn.execute(
                t.task_runs.insert().values(
                    task_id=task_id, name="ingest_file", status=status, params={}, counts={},
                    started_at=utcnow(), heartbeat_at=utcnow(), worker=this_process(),
                )
            )  # fmt: skip
    with app.connection_for_write() as consumer:
        channel = consumer.default_channel
        assert all(channel.basic_get("ingest", no_ack=False) is not None for _ in range(4))
        assert orphaned(app, engine) == set()  # just delivered: a worker is starting them
        later = time.time() + ORPHANED_AFTER + 5
        assert orphaned(app, engine, now=later) == {"dropped"}
        assert put_back(app, {"dropped"}) == 1
        assert channel.client.llen("ingest") == 1


def _run(engine: Engine, task_id: str, name: str, status: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            t.task_runs.insert().values(
                task_id=task_id, name=name, status=status, params={}, counts={},
                started_at=utcnow(), heartbeat_at=utcnow(), worker=this_process(),
            )
        )  # fmt: skip


def test_a_step_that_succeeded_but_never_sent_the_next_one_is_put_back(
    redis_app: Any, engine: Engine
) -> None:
    """A worker killed after a chain step's run committed, before Celery sent the next step:
    the step's message is unacknowledged and the next step was never sent (the fault suite
    caught one after `store_files`; the chain waited for the visibility timeout). Recovery puts
    the step back when its next step is one task with no run and no entry in the book of sent
    messages; not once the next step ran, and never a group's member (a chord would count its
    result twice)."""
    app = redis_app
    store = app.signature("payrecon.store_files", kwargs={"feed_file_ids": [1]}, immutable=True)
    prepare = app.signature("payrecon.prepare_reconcile", immutable=True)
    chain(store.set(task_id="store"), prepare.set(task_id="prepare")).apply_async()
    staged = app.signature("payrecon.ingest_file", kwargs={"feed_file_id": 1}, immutable=True)
    group(staged.set(task_id="member-1"), staged.clone().set(task_id="member-2")).apply_async()
    for task_id, name in (("store", "store_files"), ("member-1", "ingest_file")):
        _run(engine, task_id, name, "succeeded")
    with app.connection_for_write() as consumer:
        channel = consumer.default_channel
        assert all(channel.basic_get("ingest", no_ack=False) is not None for _ in range(3))
        later = time.time() + ORPHANED_AFTER + 5
        assert orphaned(app, engine) == set()  # just delivered
        assert orphaned(app, engine, now=later) == {"store", "member-2"}  # member-2: no run
        _run(engine, "prepare", "prepare_reconcile", "running")  # the next step was sent
        assert orphaned(app, engine, now=later) == {"member-2"}


def test_a_message_taken_off_its_queue_by_a_worker_killed_then_is_sent_again(
    redis_app: Any, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis: BRPOP takes the message off the queue before the worker writes it down as
    unacknowledged; a worker killed in between leaves it nowhere. The book of sent messages
    sends it again, as it was, once: after two recovery passes that found it on no queue, in no
    hash, held by no worker, with no run. A queued message, one that ran, and one a worker
    holds are left alone."""
    monkeypatch.setattr(sent, "booking_app", lambda: redis_app)
    sent._seen_missing.clear()
    for task_id in ("vanished", "queued", "done", "held"):
        redis_app.send_task("payrecon.ingest_file", kwargs={"feed_file_id": 7}, task_id=task_id)
    with engine.begin() as conn:
        conn.execute(
            t.task_runs.insert().values(
                task_id="done", name="ingest_file", status="succeeded", params={}, counts={},
                started_at=utcnow(), heartbeat_at=utcnow(), worker=this_process(),
            )
        )  # fmt: skip
    with redis_app.connection_for_write() as connection:
        client = connection.default_channel.client
        assert client.hlen(sent.SENT_KEY) == 4
        # What a killed worker's BRPOP did: three messages gone from the queue, nowhere else.
        taken = [json.loads(client.rpop("ingest")) for _ in range(3)]
        assert [m["headers"]["id"] for m in taken] == ["vanished", "queued", "done"]
        assert [json.loads(raw)["headers"]["id"] for raw in client.lrange("ingest", 0, -1)] == [
            "held"
        ]
    later = time.time() + sent.MISSING_AFTER + 5
    holding = lambda: {"held"}  # noqa: E731
    assert sent.missing(redis_app, engine, holding) == []  # not old enough yet
    # "queued" back on its queue (say, put back by recovery): left alone; "done" ran: dropped.
    redis_app.send_task("payrecon.ingest_file", kwargs={"feed_file_id": 7}, task_id="queued")
    assert sent.missing(redis_app, engine, holding, now=later - 0.5) == []  # first pass
    again = sent.missing(redis_app, engine, holding, now=later)
    assert [m["id"] for m in again] == ["vanished"]
    assert sent.send_again(redis_app, again, now=later) == 1
    assert sent.send_again(redis_app, again, now=later) == 0  # claimed: once across workers
    with redis_app.connection_for_write() as connection:
        client = connection.default_channel.client
        queued = [json.loads(raw) for raw in client.lrange("ingest", 0, -1)]
        resent = next(m for m in queued if m["headers"]["id"] == "vanished")
        assert resent["headers"] == taken[0]["headers"]  # the same task, args and chain
        assert resent["body"] == taken[0]["body"]
        assert client.hexists(sent.SENT_KEY, "done") is False
        assert client.hexists(sent.SENT_KEY, "vanished")
