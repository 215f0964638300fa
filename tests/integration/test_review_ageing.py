from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import Engine
from structlog.testing import capture_logs

from payrecon.domain.review_age import age_bucket
from payrecon.services.reconciliation.review_ageing import review_queue_age
from payrecon.store import tables as t
from tests.integration.test_pipeline_services import DATA, load_ledger, run_pipeline


def test_age_bucket() -> None:
    as_of = date(2026, 11, 21)
    assert [age_bucket(date(2026, 11, d), as_of) for d in (21, 19, 18, 15, 14)] == [
        "0-2d",
        "0-2d",
        "3-6d",
        "3-6d",
        "7-29d",
    ]
    assert age_bucket(date(2026, 10, 22), as_of) == "30d+"


def test_the_review_queue_by_age(engine: Engine, tmp_path: Path) -> None:
    load_ledger(engine)
    run_pipeline(engine, tmp_path / "store", DATA / "statement.camt053.xml")
    with engine.begin() as conn:  # make every line of the file wait for review
        conn.execute(t.statement_lines.update().values(status="unmatched"))
    with capture_logs() as logs:
        age = review_queue_age(engine, date(2026, 10, 27), overdue_days=7)
    # Booked 10-18, 10-19, 10-19, 10-20: nine, eight, eight and seven days before 10-27.
    assert age.by_bucket == {"0-2d": 0, "3-6d": 0, "7-29d": 4, "30d+": 0}
    assert age.overdue == 4
    assert age.oldest_booking_date == date(2026, 10, 18)
    assert [e["event"] for e in logs] == ["review.queue.overdue", "review.queue.aged"]
    # Before 10-21: 10-18 is three days old, 10-19 (twice) and 10-20 are two days or less.
    assert review_queue_age(engine, date(2026, 10, 21), overdue_days=7).by_bucket == {
        "0-2d": 3,
        "3-6d": 1,
        "7-29d": 0,
        "30d+": 0,
    }
