"""Beat schedules from `schedules/*.yaml`, validated before beat starts.

    - name: recompute-balances
      task: recompute_balances        # a short task name (see TASKS)
      every: 900                      # seconds; or `crontab: "*/15 * * * *"`
      kwargs: {}
      queue: balances
      expires: 600                    # seconds after which an unstarted run is dropped

An unknown task, a bad crontab, a duplicate name or an unknown key stops start-up with an error
naming the file and the entry.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from celery.schedules import crontab
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from payrecon.domain.errors import InvalidInput
from payrecon.worker.registry import TASKS


class ScheduleEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    task: str
    every: int | None = Field(default=None, ge=1)
    crontab: str | None = None
    kwargs: dict[str, Any] = Field(default_factory=dict)
    queue: str | None = None
    expires: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _check(self) -> ScheduleEntry:
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; known: {', '.join(sorted(TASKS))}")
        if (self.every is None) == (self.crontab is None):
            raise ValueError("give exactly one of `every` (seconds) and `crontab`")
        if self.crontab is not None:
            cron_schedule(self.crontab)
        TASKS[self.task].validate(self.kwargs)
        return self

    def celery_schedule(self) -> Any:
        if self.crontab is not None:
            return cron_schedule(self.crontab)
        return timedelta(seconds=self.every or 0)


def cron_schedule(expression: str, now: Any = None) -> crontab:
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"crontab {expression!r} must have 5 fields (min hour dom month dow)")
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    try:
        options = {"nowfun": lambda: now} if now is not None else {}
        return crontab(minute, hour, day_of_week, day_of_month, month_of_year, **options)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"crontab {expression!r}: {exc}") from None


def default_schedules_dir() -> Path:
    from importlib import resources

    packaged = Path(str(resources.files("payrecon"))) / "_schedules"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "schedules"


def load_schedules(directory: Path) -> list[ScheduleEntry]:
    entries: list[ScheduleEntry] = []
    seen: dict[str, Path] = {}
    for path in sorted(directory.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        if not isinstance(raw, list):
            raise InvalidInput(f"{path}: a schedule file is a list of entries")
        for index, item in enumerate(raw, start=1):
            try:
                entry = ScheduleEntry.model_validate(item)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}" for e in exc.errors()
                )
                raise InvalidInput(f"{path}: entry {index}: {problems}") from None
            if entry.name in seen:
                raise InvalidInput(
                    f"{path}: entry {index}: duplicate name {entry.name!r}"
                    f" (also in {seen[entry.name]})"
                )
            seen[entry.name] = path
            entries.append(entry)
    return entries


def beat_schedule(entries: list[ScheduleEntry]) -> dict[str, dict[str, Any]]:
    return {
        e.name: {
            "task": TASKS[e.task].celery_name,
            "schedule": e.celery_schedule(),
            "kwargs": e.kwargs,
            "options": {
                "queue": e.queue or TASKS[e.task].queue,
                **({"expires": e.expires} if e.expires else {}),
            },
        }
        for e in entries
    }


def describe_schedules(entries: list[ScheduleEntry], now: Any = None) -> list[str]:
    """One line per entry: name, task, when, queue, and the next run time (UTC)."""
    from datetime import UTC, datetime

    now = now or datetime.now(UTC)
    lines = []
    for e in entries:
        if e.crontab is None:
            when, next_run = f"every {e.every}s", now + timedelta(seconds=e.every or 0)
        else:
            schedule = cron_schedule(e.crontab, now)
            when, next_run = f"cron {e.crontab}", now + schedule.remaining_estimate(now)
        lines.append(
            f"{e.name}: {e.task} {when} on {e.queue or TASKS[e.task].queue};"
            f" next {next_run:%Y-%m-%d %H:%M:%S} UTC"
        )
    return lines
