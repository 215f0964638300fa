"""Admin entities as resources: list, get, create, JSON Patch, delete, each one unit of work.

An `AdminResource` names a table, the camelCase fields the API shows (each a column), the pydantic
model of its writable fields (validated on create and again on the result of every patch), the
write-only fields it stores but never shows (a provider's secrets), the other rows its ids must
name, and any rule across rows. The resource definitions are in `services/admin/entities.py`.

A resource with write-only fields is written only under a `WritePolicy`: its `seal` encrypts each
secret before it is stored (so none is ever stored in plaintext) and its `check` applies rules of
the deployment (which hosts a provider may be on). `secret_bound_to` names, per secret, what it is
good for (a provider's token: the URL it is sent to); a patch that changes that clears the stored
secret, unless the same patch sets a new one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError
from sqlalchemy import Column, Connection, Engine, Row, Table, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from payrecon.domain.errors import Conflict, InvalidInput, NotFound
from payrecon.services.admin.json_patch import apply_patch
from payrecon.services.clock import utcnow
from payrecon.store.db import transaction
from payrecon.store.listing import ListQueryLike, apply_list_query

READ_ONLY = ("id", "createdDate", "updatedDate")
Json = dict[str, Any]


@dataclass(frozen=True)
class Page:
    """One page of a list and the number of rows the filters select."""

    items: list[Json]
    total: int


@dataclass(frozen=True)
class WritePolicy:
    seal: Callable[[str], str]
    check: Callable[[Json], None] = lambda values: None


@dataclass(frozen=True)
class AdminResource:
    noun: str
    table: Table
    fields: Mapping[str, Column[Any]]  # camelCase -> column, what the API shows
    model: type[BaseModel]  # the writable fields, by their camelCase aliases
    computed: Mapping[str, ColumnElement[Any]] = field(default_factory=dict)  # shown, read-only
    write_only: Mapping[str, Column[Any]] = field(default_factory=dict)
    references: Mapping[str, tuple[Table, str]] = field(default_factory=dict)
    rule: Callable[[Connection, Json], None] | None = None  # checks across rows, given the values
    secret_bound_to: Mapping[str, Callable[[Json], object]] = field(default_factory=dict)

    @property
    def shown(self) -> dict[str, ColumnElement[Any]]:
        """Every field the API shows, stored or computed, as filterable columns."""
        return {**self.fields, **self.computed}

    @property
    def read_only(self) -> tuple[str, ...]:
        return (*READ_ONLY, *self.computed)


def list_resources(engine: Engine, resource: AdminResource, q: ListQueryLike) -> Page:
    shown = resource.shown
    stmt = select(*[column.label(name) for name, column in shown.items()])
    page, count = apply_list_query(stmt, shown, q)
    with engine.connect() as conn:
        items = [_shown(row) for row in conn.execute(page)]
        total = conn.execute(count).scalar_one()
    return Page(items, total)


def get_resource(engine: Engine, resource: AdminResource, resource_id: int) -> Json:
    with engine.connect() as conn:
        return _read(conn, resource, resource_id)


def create_resource(
    engine: Engine,
    resource: AdminResource,
    body: BaseModel,
    *,
    now: datetime | None = None,
    policy: WritePolicy | None = None,
) -> Json:
    values = _writable(body)
    stamp = now or utcnow()
    policy = _policy_for(resource, policy)
    with _unit_of_work(engine, resource) as conn:
        _check(conn, resource, values, policy)
        row = _columns(resource, values, policy, keep_unset_secrets=False)
        if "created_at" in resource.table.c:
            row["created_at"] = stamp
        if "updated_at" in resource.table.c:
            row["updated_at"] = stamp
        new_id = conn.execute(resource.table.insert().values(row).returning(_id(resource)))
        return _read(conn, resource, new_id.scalar_one())


def patch_resource(
    engine: Engine,
    resource: AdminResource,
    resource_id: int,
    operations: Sequence[Mapping[str, Any]],
    *,
    now: datetime | None = None,
    policy: WritePolicy | None = None,
) -> Json:
    """Apply an RFC 6902 patch to the resource's JSON and store the validated result. The write-
    only fields appear in the patched document as null: `add`/`replace` sets one, `remove` clears
    it, and a `test` or `copy` can never read it."""
    policy = _policy_for(resource, policy)
    with _unit_of_work(engine, resource) as conn:
        current = _read(conn, resource, resource_id, for_update=True)
        document = {**_as_json_text(current), **dict.fromkeys(resource.write_only)}
        patched = apply_patch(document, operations)
        if not isinstance(patched, dict):
            raise InvalidInput(f"a {resource.noun} must stay a JSON object")
        for name in resource.read_only:
            if name in document and patched.get(name, None) != document[name]:
                raise InvalidInput(f"{name} is read-only", details={"field": name})
        writable = {k: v for k, v in patched.items() if k not in resource.read_only}
        cleared = [name for name in resource.write_only if name not in patched]
        values = _writable(_validate(resource, writable))
        cleared += [
            name
            for name, bound_to in resource.secret_bound_to.items()
            if values.get(name) is None and bound_to(values) != bound_to(current)
        ]
        _check(conn, resource, values, policy)
        row = _columns(resource, values, policy, keep_unset_secrets=True)
        row.update({resource.write_only[name].name: None for name in cleared})
        if "updated_at" in resource.table.c:
            row["updated_at"] = now or utcnow()
        conn.execute(resource.table.update().where(_id(resource) == resource_id).values(row))
        return _read(conn, resource, resource_id)


def delete_resource(engine: Engine, resource: AdminResource, resource_id: int) -> None:
    with _unit_of_work(engine, resource) as conn:
        _read(conn, resource, resource_id, for_update=True)
        conn.execute(resource.table.delete().where(_id(resource) == resource_id))


# Internals ---------------------------------------------------------------------------------


@contextmanager
def _unit_of_work(engine: Engine, resource: AdminResource) -> Iterator[Connection]:
    """`transaction(engine)` that turns a constraint violation into a 409 (nothing is written)."""
    try:
        with transaction(engine) as conn:
            yield conn
    except IntegrityError as exc:
        raise Conflict(
            f"the {resource.noun} conflicts with existing data "
            "(a duplicate, or rows that still refer to it)",
            details={"constraint": str(exc.orig).splitlines()[0][:200]},
        ) from None


def _id(resource: AdminResource) -> Column[Any]:
    return resource.fields["id"]


def _read(
    conn: Connection, resource: AdminResource, resource_id: int, *, for_update: bool = False
) -> Json:
    stmt = select(*[c.label(n) for n, c in resource.shown.items()]).where(
        _id(resource) == resource_id
    )
    if for_update:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise NotFound(f"{resource.noun} {resource_id} does not exist")
    return _shown(row)


def row_json(row: Row[Any]) -> Json:
    """A labelled row as the API shows it: timestamps in UTC on every database (SQLite hands
    back naive ones)."""
    return {
        key: value.replace(tzinfo=UTC)
        if isinstance(value, datetime) and not value.tzinfo
        else value
        for key, value in row._mapping.items()
    }


def _shown(row: Row[Any]) -> Json:
    item = row_json(row)
    if "updatedDate" in item and item["updatedDate"] is None:  # imported rows were never updated
        item["updatedDate"] = item.get("createdDate")
    return item


def _as_json_text(item: Json) -> Json:
    """Dates as the JSON document shows them, so that a patch's `test` compares like with like."""
    return {k: v.isoformat() if isinstance(v, date | datetime) else v for k, v in item.items()}


def _validate(resource: AdminResource, values: Json) -> BaseModel:
    try:
        return resource.model.model_validate(values)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors()
        ]
        raise InvalidInput(f"the {resource.noun} is not valid", details=details) from None


def _writable(body: BaseModel) -> Json:
    return body.model_dump(by_alias=True)


def _policy_for(resource: AdminResource, policy: WritePolicy | None) -> WritePolicy | None:
    if resource.write_only and policy is None:
        raise TypeError(f"a {resource.noun} stores secrets: write it with a WritePolicy")
    return policy


def _columns(
    resource: AdminResource, values: Json, policy: WritePolicy | None, *, keep_unset_secrets: bool
) -> Json:
    """Column values for the camelCase `values`; a write-only field is sealed, and left null it
    keeps its stored value when `keep_unset_secrets` (a patch), and is stored as null otherwise
    (a create)."""
    row: Json = {}
    for name, value in values.items():
        if name in resource.write_only:
            if value is None and keep_unset_secrets:
                continue
            secret = value.get_secret_value() if isinstance(value, SecretStr) else value
            if secret is not None:
                assert policy is not None  # _policy_for
                secret = policy.seal(secret)
            row[resource.write_only[name].name] = secret
        else:
            row[resource.fields[name].name] = value
    return row


def _check(
    conn: Connection, resource: AdminResource, values: Json, policy: WritePolicy | None
) -> None:
    if policy is not None:
        policy.check(values)
    for name, (table, noun) in resource.references.items():
        ref = values.get(name)
        if ref is not None:
            found = conn.execute(select(func.count()).where(table.c.id == ref)).scalar_one()
            if not found:
                raise InvalidInput(f"{noun} {ref} does not exist", details={"field": name})
    if resource.rule is not None:
        resource.rule(conn, values)
