"""The list conventions (see `payrecon.api.listquery`) applied to a SELECT: filters, order, page.

`columns` maps each camelCase field a caller may filter or sort by to a column expression usable in
WHERE (put aggregates in a subquery first). A filter value is `x` (equality), `in:a,b` or `like:x`
(case-insensitive contains), converted to the column's type: integers, dates, timestamps, exact
decimals (never float) and booleans (true/false/1/0).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Boolean, Date, DateTime, Integer, Numeric, Select, String, func, select
from sqlalchemy.sql.elements import ColumnElement

from payrecon.domain.errors import InvalidInput
from payrecon.domain.money import parse_amount
from payrecon.store.types import Amount

if TYPE_CHECKING:
    from decimal import Decimal

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})
_LIKE_ESCAPE = "\\"
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class ListQueryLike(Protocol):
    """What `apply_list_query` reads of `payrecon.api.listquery.ListQuery` (the store does not
    import the API layer)."""

    @property
    def page_size(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def sort(self) -> list[tuple[str, bool]]: ...
    @property
    def filters(self) -> dict[str, str]: ...


def apply_list_query(
    stmt: Select[Any],
    columns: Mapping[str, ColumnElement[Any]],
    q: ListQueryLike,
    *,
    ignore: Collection[str] = (),
    default_sort: Sequence[tuple[str, bool]] = (),
) -> tuple[Select[Any], Select[Any]]:
    """(the page: filtered, ordered, limited; the count of every filtered row).

    A filter on a field that is neither in `columns` nor in `ignore` (parameters the caller
    handles itself) is an `InvalidInput` naming the field, and so is a sort on an unknown field.
    Without `sort=`, the rows come in `default_sort` order ((field, descending) pairs), then by id.
    """
    for field, raw in q.filters.items():
        if field in ignore:
            continue
        column = columns.get(field)
        if column is None:
            raise InvalidInput(
                f"unknown filter field {field!r}",
                details={"field": field, "known": sorted(columns)},
            )
        stmt = stmt.where(filter_condition(field, column, raw))
    count = select(func.count()).select_from(stmt.order_by(None).subquery())
    order: list[ColumnElement[Any]] = []
    sort = list(q.sort) or list(default_sort)
    for field, descending in sort:
        column = columns.get(field)
        if column is None:
            raise InvalidInput(
                f"unknown sort field {field!r}", details={"field": field, "known": sorted(columns)}
            )
        order.append(column.desc() if descending else column.asc())
    if "id" in columns and "id" not in {field for field, _ in sort}:
        order.append(columns["id"].asc())  # a stable order, so pages neither repeat nor skip
    page = stmt.order_by(None).order_by(*order).limit(q.page_size).offset(q.offset)
    return page, count


def filter_condition(field: str, column: ColumnElement[Any], raw: str) -> ColumnElement[bool]:
    """The WHERE condition for one filter value."""
    if raw.startswith("like:"):
        if not isinstance(column.type, String):
            raise InvalidInput(
                f"{field}: like: applies to text fields only", details={"field": field}
            )
        needle = raw[len("like:") :]
        escaped = (
            needle.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2)
            .replace("%", _LIKE_ESCAPE + "%")
            .replace("_", _LIKE_ESCAPE + "_")
        )
        return column.ilike(f"%{escaped}%", escape=_LIKE_ESCAPE)
    convert = converter_for(field, column)
    if raw.startswith("in:"):
        values = [v.strip() for v in raw[len("in:") :].split(",")]
        if not all(values):
            raise InvalidInput(f"{field}: in: needs values, got {raw!r}", details={"field": field})
        return column.in_([convert(v) for v in values])
    value: object = convert(raw)
    return column == value


def converter_for(field: str, column: ColumnElement[Any]) -> Callable[[str], Any]:
    """Text to the column's Python type, with an `InvalidInput` naming the field."""
    kind = column.type
    if isinstance(kind, Amount):
        return lambda raw: _amount(field, raw, kind)
    if isinstance(kind, Boolean):
        return lambda raw: _boolean(field, raw)
    if isinstance(kind, Integer):
        return lambda raw: _integer(field, raw)
    if isinstance(kind, Numeric):
        return lambda raw: parse_amount(raw, field=field)
    if isinstance(kind, DateTime):
        return lambda raw: _timestamp(field, raw)
    if isinstance(kind, Date):
        return lambda raw: _date(field, raw)
    if isinstance(kind, String):
        return str
    raise InvalidInput(f"{field} cannot be filtered", details={"field": field})


def _amount(field: str, raw: str, kind: Amount) -> Decimal:
    value = parse_amount(raw, field=field)
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -kind.scale:
        raise InvalidInput(
            f"{field}: at most {kind.scale} decimal places, got {raw!r}", details={"field": field}
        )
    if abs(value) >= 10 ** (kind.precision - kind.scale):
        raise InvalidInput(f"{field}: out of range, got {raw!r}", details={"field": field})
    return value


def _boolean(field: str, raw: str) -> bool:
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidInput(f"{field} must be true or false, got {raw!r}", details={"field": field})


def _integer(field: str, raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise InvalidInput(
            f"{field} must be an integer, got {raw!r}", details={"field": field}
        ) from None
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise InvalidInput(f"{field}: out of range, got {raw!r}", details={"field": field})
    return value


def _date(field: str, raw: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInput(
            f"{field} must be a date (YYYY-MM-DD), got {raw!r}", details={"field": field}
        ) from None


def _timestamp(field: str, raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInput(
            f"{field} must be an ISO 8601 timestamp, got {raw!r}", details={"field": field}
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
