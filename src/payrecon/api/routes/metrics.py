"""`GET /metrics`: Prometheus text. Unauthenticated like /healthz; keep it on the internal
network (docs/operations.md)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from payrecon.services.operations.metrics import PipelineFigures, pipeline_figures
from payrecon.services.reconciliation.review_ageing import QueueAge, review_queue_age

router = APIRouter(tags=["ops"])


class _Snapshot(Collector):
    def __init__(self, figures: PipelineFigures, depths: dict[str, int], queue: QueueAge) -> None:
        self.figures = figures
        self.depths = depths
        self.queue = queue

    def collect(self) -> Iterator[Metric]:
        lines = CounterMetricFamily(
            "payrecon_statement_lines", "Statement lines stored, by status.", labels=["status"]
        )
        for status in ("pending", "matched", "unmatched", "ignored"):
            lines.add_metric([status], self.figures.lines_by_status.get(status, 0))
        yield lines
        files = CounterMetricFamily(
            "payrecon_feed_files", "Feed files, by status.", labels=["status"]
        )
        for status in ("received", "processed", "quarantined"):
            files.add_metric([status], self.figures.files_by_status.get(status, 0))
        yield files
        yield CounterMetricFamily(
            "payrecon_allocations", "Live allocations.", value=self.figures.allocations
        )
        # Prometheus samples are floats by definition; this is an exported gauge, not money
        # that payrecon computes with.
        yield GaugeMetricFamily(
            "payrecon_amount_allocated",
            "Sum of live allocations, all currencies together.",
            value=float(self.figures.amount_allocated),
        )
        depth = GaugeMetricFamily(
            "payrecon_queue_depth", "Messages waiting, per queue.", labels=["queue"]
        )
        for queue, n in sorted(self.depths.items()):
            depth.add_metric([queue], n)
        yield depth
        review = GaugeMetricFamily(
            "payrecon_review_queue_lines",
            "Unmatched lines waiting for review, by age.",
            labels=["age"],
        )
        for bucket, n in self.queue.by_bucket.items():
            review.add_metric([bucket], n)
        yield review
        yield GaugeMetricFamily(
            "payrecon_review_queue_overdue",
            "Unmatched lines past the review deadline.",
            value=self.queue.overdue,
        )
        yield GaugeMetricFamily(
            "payrecon_ledger_breaches",
            "Ledger invariant breaches found by the latest audit_ledger run.",
            value=self.figures.ledger_breaches,
        )
        yield GaugeMetricFamily(
            "payrecon_review_queue_provider_payments",
            "Collected provider payments waiting for review (no customer, or no exchange rate).",
            value=self.figures.provider_payments_awaiting_review,
        )
        runs = CounterMetricFamily(
            "payrecon_task_runs", "Finished task runs.", labels=["task", "status"]
        )
        seconds = CounterMetricFamily(
            "payrecon_task_duration_seconds",
            "Total run time of finished task runs.",
            labels=["task", "status"],
        )
        last = GaugeMetricFamily(
            "payrecon_task_last_duration_seconds",
            "Run time of the latest finished run.",
            labels=["task"],
        )
        for timing in self.figures.task_timings:
            runs.add_metric([timing.name, timing.status], timing.runs)
            seconds.add_metric([timing.name, timing.status], float(timing.seconds))
            if timing.status == "succeeded" and timing.last_seconds is not None:
                last.add_metric([timing.name], float(timing.last_seconds))
        yield runs
        yield seconds
        yield last


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Any:
    registry = CollectorRegistry()
    try:
        depths = request.app.state.pipeline.queue_depths()
    except Exception:  # a broker outage must not hide the other metrics
        depths = {}
    container = request.app.state.container
    queue = review_queue_age(
        container.engine,
        datetime.now(UTC).date(),
        overdue_days=container.settings.review_overdue_days,
        report=False,
    )
    registry.register(_Snapshot(pipeline_figures(container.engine), depths, queue))
    return Response(
        generate_latest(registry), media_type="text/plain; version=0.0.4; charset=utf-8"
    )
