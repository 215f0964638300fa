"""RFC 6902 JSON Patch (add, remove, replace, move, copy, test) over a JSON document.

The Admin API seeds update resources with JSON Patch. A patch applies to a copy, whole or not at
all; a malformed operation or a path that does not exist is `InvalidInput` (422), a failed `test`
is `PatchTestFailed` (409). Numbers compare by value (1 == 1.0), never equal to booleans.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from payrecon.domain.errors import Conflict, InvalidInput

_MISSING = object()


class PatchTestFailed(Conflict):
    """A `test` operation found another value: the resource is not in the state the caller
    expected, so nothing is changed."""

    code = "patch_test_failed"


class PatchOperation(BaseModel):
    """One JSON Patch operation, as the request body carries it. Other members are ignored, as
    RFC 6902 section 4 requires."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    op: Literal["add", "remove", "replace", "move", "copy", "test"]
    path: str = Field(description="JSON Pointer (RFC 6901) to the target, e.g. `/bankIban`")
    value: Any = Field(default=None, description="For add, replace and test")
    from_: str | None = Field(default=None, alias="from", description="For move and copy")

    def as_rfc(self) -> dict[str, Any]:
        """The operation as RFC 6902 spells it, with `value` only when the caller gave one."""
        return self.model_dump(by_alias=True, exclude_unset=True)


def apply_patch(document: Mapping[str, Any], operations: Iterable[Mapping[str, Any]]) -> Any:
    """The document after every operation, in order; `document` itself is left untouched."""
    result: Any = copy.deepcopy(dict(document))
    for index, operation in enumerate(operations):
        result = _apply_one(result, operation, index)
    return result


def _apply_one(doc: Any, operation: Mapping[str, Any], index: int) -> Any:
    op = operation.get("op")
    where = f"operation {index}"
    path = _pointer(operation.get("path", _MISSING), f"{where}: path")
    if op == "add":
        return _add(doc, path, _value(operation, where), where)
    if op == "remove":
        return _remove(doc, path, where)
    if op == "replace":
        value = _value(operation, where)
        _get(doc, path, where)
        return _add(_remove(doc, path, where), path, value, where) if path else value
    if op in ("move", "copy"):
        source = _pointer(operation.get("from", _MISSING), f"{where}: from")
        value = copy.deepcopy(_get(doc, source, where))
        if op == "move":
            if path[: len(source)] == source and len(path) > len(source):
                raise InvalidInput(f"{where}: cannot move a value into itself")
            doc = _remove(doc, source, where)
        return _add(doc, path, value, where)
    if op == "test":
        expected = _value(operation, where)
        actual = _get(doc, path, where)
        if not json_equal(actual, expected):
            raise PatchTestFailed(
                f"{where}: test failed at {operation['path']!r}",
                details={"path": operation["path"]},
            )
        return doc
    raise InvalidInput(f"{where}: unknown op {op!r}", details={"operation": index})


def _value(operation: Mapping[str, Any], where: str) -> Any:
    if "value" not in operation:
        raise InvalidInput(f"{where}: value is required")
    return copy.deepcopy(operation["value"])


def _pointer(raw: object, where: str) -> list[str]:
    if not isinstance(raw, str):
        raise InvalidInput(f"{where} must be a JSON Pointer string")
    if raw == "":
        return []
    if not raw.startswith("/"):
        raise InvalidInput(f"{where} must start with '/': {raw!r}")
    return [step.replace("~1", "/").replace("~0", "~") for step in raw[1:].split("/")]


def _index(container: list[Any], step: str, where: str, *, append: bool) -> int:
    if append and step == "-":
        return len(container)
    if not step.isdigit() or (step != "0" and step.startswith("0")):
        raise InvalidInput(f"{where}: {step!r} is not an array index")
    position = int(step)
    if position > len(container) or (not append and position == len(container)):
        raise InvalidInput(f"{where}: array index {position} is out of range")
    return position


def _parent(doc: Any, path: list[str], where: str) -> Any:
    return _get(doc, path[:-1], where)


def _get(doc: Any, path: list[str], where: str) -> Any:
    node = doc
    for step in path:
        if isinstance(node, dict):
            if step not in node:
                raise InvalidInput(f"{where}: no member {step!r}")
            node = node[step]
        elif isinstance(node, list):
            node = node[_index(node, step, where, append=False)]
        else:
            raise InvalidInput(f"{where}: cannot descend into a {type(node).__name__}")
    return node


def _add(doc: Any, path: list[str], value: Any, where: str) -> Any:
    if not path:
        return value
    parent, step = _parent(doc, path, where), path[-1]
    if isinstance(parent, dict):
        parent[step] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, step, where, append=True), value)
    else:
        raise InvalidInput(f"{where}: cannot add into a {type(parent).__name__}")
    return doc


def _remove(doc: Any, path: list[str], where: str) -> Any:
    if not path:
        raise InvalidInput(f"{where}: cannot remove the whole document")
    parent, step = _parent(doc, path, where), path[-1]
    if isinstance(parent, dict):
        if step not in parent:
            raise InvalidInput(f"{where}: no member {step!r}")
        del parent[step]
    elif isinstance(parent, list):
        del parent[_index(parent, step, where, append=False)]
    else:
        raise InvalidInput(f"{where}: cannot remove from a {type(parent).__name__}")
    return doc


def json_equal(left: Any, right: Any) -> bool:
    """Equality as JSON means it: numbers by value, booleans apart from numbers, deep."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int | Decimal) and isinstance(right, int | Decimal):
        return Decimal(left) == Decimal(right)
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(json_equal, left, right))
    return type(left) is type(right) and bool(left == right)
