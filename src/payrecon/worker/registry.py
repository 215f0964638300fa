"""The tasks people and schedules can name: short name, Celery name, queue, and the parameters
each accepts (validated before anything is enqueued)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from payrecon.domain.errors import InvalidInput
from payrecon.store.ledger_writes import PAYOUT_PARTITION


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IngestFileParams(NoParams):
    feed_file_id: int = Field(ge=1)


class CustomersParams(NoParams):
    customer_ids: list[int] | None = None


class BalancesParams(CustomersParams):
    billing_cycle_id: int | None = Field(default=None, ge=1)
    since_last_run: bool = False  # only customers with ledger rows since the last good run


class PartitionParams(NoParams):
    partition: int = Field(ge=0, le=PAYOUT_PARTITION)


class ProviderParams(NoParams):
    provider_id: int = Field(ge=1)


@dataclass(frozen=True, slots=True)
class TaskSpec:
    short_name: str
    queue: str
    params: type[NoParams]
    summary: str

    @property
    def celery_name(self) -> str:
        return f"payrecon.{self.short_name}"

    def validate(self, raw: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.params.model_validate(raw).model_dump(exclude_none=True)
        except ValidationError as exc:
            problems = [
                {"field": ".".join(map(str, e["loc"])) or self.short_name, "problem": e["msg"]}
                for e in exc.errors()
            ]
            raise InvalidInput(f"bad parameters for {self.short_name}", details=problems) from None


TASKS: dict[str, TaskSpec] = {
    spec.short_name: spec
    for spec in (
        TaskSpec(
            "ingest_file", "ingest", IngestFileParams, "parse a received file, store its lines"
        ),
        TaskSpec("scan_inbox", "ingest", NoParams, "ingest every file waiting in the inbox"),
        TaskSpec("reconcile_pending", "match", NoParams, "match every pending statement line"),
        TaskSpec(
            "prepare_reconcile", "match", NoParams, "route the lines not routed yet (a run's start)"
        ),
        TaskSpec(
            "reconcile_partition", "match", PartitionParams, "match one partition's pending lines"
        ),
        TaskSpec("recompute_balances", "balances", BalancesParams, "recompute customer balances"),
        TaskSpec(
            "update_credit_status", "balances", CustomersParams, "balances against thresholds"
        ),
        TaskSpec("audit_ledger", "balances", NoParams, "check every ledger invariant; report"),
        TaskSpec("age_review_queue", "match", NoParams, "count the review queue's lines by age"),
        TaskSpec("poll_provider", "ingest", ProviderParams, "pull a provider's new objects"),
        TaskSpec("poll_providers", "ingest", NoParams, "poll every enabled provider (fan-out)"),
        TaskSpec(
            "process_provider_events",
            "ingest",
            ProviderParams,
            "process the events a webhook stored",
        ),
    )
}


def task_spec(short_name: str) -> TaskSpec:
    try:
        return TASKS[short_name]
    except KeyError:
        known = ", ".join(sorted(TASKS))
        raise InvalidInput(f"unknown task {short_name!r}; known: {known}") from None


def parse_cli_params(pairs: list[str]) -> dict[str, Any]:
    """`k=v` pairs from the command line; `v` may be JSON (numbers, lists), else a string."""
    import json
    from decimal import Decimal

    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--param needs key=value, got {pair!r}")
        try:
            params[key] = json.loads(value, parse_float=Decimal)
        except json.JSONDecodeError:
            params[key] = value
    return params
