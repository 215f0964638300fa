from __future__ import annotations

import json

import pytest
import structlog

from payrecon.logging import configure_logging, mask_iban
from payrecon.worker.app import _bind_task_context, _unbind_task_context


class FakeTask:
    name = "payrecon.reconcile_pending"


def test_iban_is_masked() -> None:
    assert mask_iban("from CH9300762011623852957 ok") == "from CH93*************2957 ok"
    assert mask_iban("INV-0001234") == "INV-0001234"


def test_task_lines_carry_task_id_and_name_and_mask_ibans(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", "INFO")
    _bind_task_context(task_id="abc-123", task=FakeTask())
    structlog.get_logger("t").info(
        "match.line.unmatched", counterparty="GB29NWBK60161331926819", token="s3cret"
    )
    _unbind_task_context()
    structlog.get_logger("t").info("outside")
    first, second = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert first["task_id"] == "abc-123"
    assert first["task_name"] == "payrecon.reconcile_pending"
    assert first["counterparty"] == "GB29**************6819"
    assert first["token"] == "***"
    assert "task_id" not in second
