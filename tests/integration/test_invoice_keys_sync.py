"""The invoices' normalised numbers, synced by two transactions at once (a run's files are staged
side by side, and each stager syncs first): the second waits for the first and finds nothing
left to do, instead of inserting the same keys again."""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine, func, select, update

from payrecon.store import tables as t
from payrecon.store.queries import sync_invoice_keys
from tests.integration.test_pipeline_services import load_ledger


def test_two_syncs_at_once_key_each_invoice_once(pg_engine: Engine) -> None:
    load_ledger(pg_engine)
    with pg_engine.begin() as conn:
        conn.execute(update(t.invoices).values(number_key=None))  # as if written otherwise
    outcome: list[object] = []

    def second() -> None:
        try:
            with pg_engine.begin() as conn:
                outcome.append(sync_invoice_keys(conn))
        except Exception as error:  # what the test reports
            outcome.append(error)

    with pg_engine.begin() as first:
        synced = sync_invoice_keys(first)
        other = threading.Thread(target=second)
        other.start()
        time.sleep(0.5)  # the second has read the invoices while the first's keys are uncommitted
        assert outcome == []  # it waits
    other.join(timeout=30)
    assert synced > 0
    assert outcome == [0]
    with pg_engine.connect() as conn:
        keys = conn.execute(select(func.count(t.invoices.c.number_key))).scalar_one()
        invoices = conn.execute(select(func.count()).select_from(t.invoices)).scalar_one()
    assert keys == synced == invoices
