"""The review queue as rows for a spreadsheet (`payrecon export review --format csv|xlsx`,
`GET /v1/review-queue?format=...`, `GET /v1/statement-lines?format=...`): every item the filters
select, all pages, each with its reason and its suggested customers in words. Rendering is the
caller's (`tabular`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from payrecon.services.admin.resources import Json
from payrecon.services.reconciliation import review, review_queue
from payrecon.store.listing import ListQueryLike

COLUMNS = (
    "id",
    "source",
    "external_id",
    "date",
    "amount",
    "currency",
    "customer_id",
    "counterparty_name",
    "reference",
    "account",
    "reason",
    "suggestions",
)
LINE_COLUMNS = (
    "id",
    "account",
    "external_id",
    "booking_date",
    "amount",
    "currency",
    "counterparty_name",
    "remittance",
    "status",
    "reason",
    "suggestions",
)
_PAGE = 1000
_IGNORED = ("format",)


@dataclass(frozen=True, slots=True)
class _Every:
    """The caller's filters and order, every page of them."""

    q: ListQueryLike
    page: int = 1

    @property
    def page_size(self) -> int:
        return _PAGE

    @property
    def offset(self) -> int:
        return (self.page - 1) * _PAGE

    @property
    def sort(self) -> list[tuple[str, bool]]:
        return list(self.q.sort)

    @property
    def filters(self) -> dict[str, str]:
        return {k: v for k, v in self.q.filters.items() if k not in _IGNORED}


@dataclass(frozen=True, slots=True)
class _Everything:
    """No filter, the default order: the whole queue (the CLI's export)."""

    page_size: int = _PAGE
    offset: int = 0
    sort: list[tuple[str, bool]] = field(default_factory=list)
    filters: dict[str, str] = field(default_factory=dict)


def everything() -> ListQueryLike:
    return _Everything()


def suggestions_text(suggestions: list[Json]) -> str:
    return "; ".join(
        f"{s['customerName']} (customer {s['customerId']}, score {s['score']}: {s['basis']})"
        for s in suggestions
    )


def review_rows(engine: Engine, q: ListQueryLike) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        found = review_queue.list_review_queue(engine, _Every(q, page))
        for item in found.items:
            rows.append(
                {
                    "id": item["id"],
                    "source": item["source"],
                    "external_id": item["externalId"],
                    "date": item["date"],
                    "amount": item["amount"],
                    "currency": item["currency"],
                    "customer_id": item["customerId"],
                    "counterparty_name": item["counterpartyName"],
                    "reference": item["reference"],
                    "account": item["account"],
                    "reason": item["reason"],
                    "suggestions": suggestions_text(item["suggestions"]),
                }
            )
        if page * _PAGE >= found.total:
            return rows
        page += 1


def line_rows(engine: Engine, q: ListQueryLike) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        found = review.list_statement_lines(engine, _Every(q, page))
        for item in found.items:
            rows.append(
                {
                    "id": item["id"],
                    "account": item["account"],
                    "external_id": item["externalId"],
                    "booking_date": item["bookingDate"],
                    "amount": item["amount"],
                    "currency": item["currency"],
                    "counterparty_name": item["counterpartyName"],
                    "remittance": item["remittance"],
                    "status": item["status"],
                    "reason": item["reason"],
                    "suggestions": suggestions_text(item["suggestions"]),
                }
            )
        if page * _PAGE >= found.total:
            return rows
        page += 1
