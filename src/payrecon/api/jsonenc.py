"""JSON with exact decimals: a Decimal is written as a JSON number with its own digits, never via
float (json.dumps would need a float; pydantic would write a string)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from json.encoder import encode_basestring_ascii  # what json.dumps(str) runs, in C
from typing import Any

from fastapi.responses import JSONResponse

from payrecon.domain.money import money_text


def encode(value: Any) -> str:
    parts: list[str] = []
    _encode(value, parts)
    return "".join(parts)


def _encode(value: Any, out: list[str]) -> None:
    # The exact types of nearly every value first, each written as json.dumps writes it, without
    # its per-call set-up (a list page of 100 payments holds some 3,000 values).
    kind = type(value)
    if kind is str:
        out.append(encode_basestring_ascii(value))
    elif kind is Decimal:
        out.append(money_text(value))
    elif kind is int:
        out.append(int.__repr__(value))
    elif value is None:
        out.append("null")
    elif kind is dict:
        out.append("{")
        first = True
        for key, item in value.items():
            if not first:
                out.append(",")
            first = False
            out.append(encode_basestring_ascii(str(key)))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif kind is list:
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        _encode_other(value, out)


def _encode_other(value: Any, out: list[str]) -> None:
    if value is None or isinstance(value, bool | int | str):
        out.append(json.dumps(value))
    elif isinstance(value, Decimal):
        out.append(money_text(value))
    elif isinstance(value, datetime):
        # Every stored timestamp is UTC; SQLite hands them back without their zone.
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        out.append(json.dumps(aware.isoformat()))
    elif isinstance(value, date):
        out.append(json.dumps(value.isoformat()))
    elif isinstance(value, Mapping):
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            if i:
                out.append(",")
            out.append(json.dumps(str(key)))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    elif isinstance(value, float):
        raise TypeError("money never passes through float")
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as JSON")


class DecimalJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        if hasattr(content, "model_dump"):
            content = content.model_dump(mode="python", by_alias=True)
        return encode(content).encode("utf-8")
