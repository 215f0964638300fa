from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from payrecon.domain.errors import InvalidInput
from payrecon.worker.schedules import (
    beat_schedule,
    default_schedules_dir,
    describe_schedules,
    load_schedules,
)


def test_the_bundled_schedules_validate() -> None:
    entries = load_schedules(default_schedules_dir())
    assert {e.name for e in entries} >= {"reconcile-pending", "recompute-balances-nightly"}
    schedule = beat_schedule(entries)
    assert schedule["reconcile-pending"]["task"] == "payrecon.reconcile_pending"
    assert schedule["reconcile-pending"]["schedule"] == timedelta(seconds=300)
    assert schedule["reconcile-pending"]["options"] == {"queue": "match", "expires": 240}
    lines = describe_schedules(entries, now=datetime(2026, 11, 21, 2, 0, tzinfo=UTC))
    assert (
        "recompute-balances-nightly: recompute_balances cron 15 2 * * * on balances; next 2026-11-21 02:15:00 UTC"
        in lines
    )


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("- {name: a, task: nope, every: 5}", "unknown task 'nope'"),
        ("- {name: a, task: reconcile_pending, crontab: '61 * * * *'}", "crontab"),
        ("- {name: a, task: reconcile_pending}", "exactly one of"),
        ("- {name: a, task: reconcile_pending, every: 5, colour: red}", "colour"),
        (
            "- {name: a, task: reconcile_pending, every: 5}\n- {name: a, task: recompute_balances, every: 9}",
            "duplicate name 'a'",
        ),
    ],
)
def test_bad_schedules_stop_with_the_file_and_entry(tmp_path: Path, text: str, error: str) -> None:
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(InvalidInput, match=error) as info:
        load_schedules(tmp_path)
    assert "bad.yaml: entry" in info.value.message


def test_every_registered_task_accepts_its_own_default_parameters() -> None:
    """What a trigger with no --param sends must be what the task function takes."""
    import inspect

    import payrecon.worker.provider_tasks  # noqa: F401 - registers the provider tasks
    from payrecon.worker.app import app
    from payrecon.worker.registry import TASKS

    for spec in TASKS.values():
        task = app.tasks[spec.celery_name]
        accepted = set(inspect.signature(task.run).parameters)
        defaults = (
            spec.params.model_validate({}).model_dump(exclude_none=True)
            if not [f for f, info in spec.params.model_fields.items() if info.is_required()]
            else {}
        )
        assert set(defaults) <= accepted, f"{spec.short_name}: {set(defaults) - accepted}"
        assert set(spec.params.model_fields) <= accepted, spec.short_name
