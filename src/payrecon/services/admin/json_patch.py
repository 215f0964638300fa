"""RFC 6902 JSON Patch over a JSON document, applied by `jsonpatch` (and `jsonpointer`).

The Admin API seeds update resources with JSON Patch. A patch applies to a copy, whole or not at
all; a malformed operation or a path that does not exist is `InvalidInput` (422), a failed `test`
is `PatchTestFailed` (409). `test` compares as RFC 6902 section 4.6 says: numbers by value
(1 == 1.0), never equal to booleans. The caller validates the patched document whole.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from jsonpatch import JsonPatch, JsonPatchException, JsonPatchTestFailed
from jsonpointer import JsonPointerException
from pydantic import BaseModel, ConfigDict, Field

from payrecon.domain.errors import Conflict, InvalidInput


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
    # One operation at a time, so that an error names the operation it is about.
    for index, operation in enumerate(operations):
        where = f"operation {index}"
        try:
            result = JsonPatch([operation]).apply(result, in_place=True)
        except JsonPatchTestFailed:
            path = operation.get("path")
            raise PatchTestFailed(
                f"{where}: test failed at {path!r}", details={"path": path}
            ) from None
        except (JsonPatchException, JsonPointerException) as exc:
            raise InvalidInput(f"{where}: {_problem(exc)}", details={"operation": index}) from None
    return result


def _problem(exc: Exception) -> str:
    """The library's message without the document it quotes ("member 'x' not found in {...}")."""
    text = str(exc)
    head, found, _ = text.partition(" not found in ")
    return f"{head} not found" if found else text
