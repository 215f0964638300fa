"""Every task payrecon's workers run is routed to one of the declared queues by name, so a
worker started with `--queues` for one role gets all of that role's work and none of another's
(docs/operations.md, "Scaling workers per queue"); none falls through to the default queue."""

from __future__ import annotations

from payrecon.config import Settings
from payrecon.worker.app import QUEUES, create_celery


def test_every_payrecon_task_has_a_route_to_a_declared_queue() -> None:
    app = create_celery(Settings(environment="test"))
    app.loader.import_default_modules()
    names = sorted(n for n in app.tasks if n.startswith("payrecon."))
    assert {"payrecon.store_files", "payrecon.finish_reconcile"} <= set(names)
    routes = app.conf.task_routes
    unrouted = [n for n in names if n not in routes]
    assert unrouted == []
    assert {routes[n]["queue"] for n in names} == set(QUEUES)


def test_a_reconcile_run_stays_on_the_match_queue_from_its_first_step_to_its_last() -> None:
    app = create_celery(Settings(environment="test"))
    routes = app.conf.task_routes
    steps = ("prepare_reconcile", "reconcile_partition", "finish_reconcile")
    assert {routes[f"payrecon.{step}"]["queue"] for step in steps} == {"match"}
    assert routes["payrecon.store_files"]["queue"] == "ingest"
