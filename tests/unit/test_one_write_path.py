"""Money moves in one place: every statement that writes the ledger's money tables is in the
ledger write path (`store/ledger_writes.py`). Checked by reading the source (ast), not by running
it: an INSERT, UPDATE or DELETE of those tables anywhere else fails this test, whichever form it
takes (`table.insert()`, `insert(table)`, `update(table)`, `delete(table)`, the bulk helpers, or
SQL text)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "payrecon"
WRITE_PATH = SRC / "store" / "ledger_writes.py"
MONEY_TABLES = frozenset(
    {
        "payments",
        "allocations",
        "credit_notes",
        "credit_note_allocations",
        "refunds",
        "payment_settlements",
        "payment_reversals",
    }
)
DML_FUNCTIONS = {"insert", "update", "delete"}
BULK_HELPERS = {"dialect_insert", "insert_ignoring_conflicts", "upsert"}
SQL_TEXT = re.compile(
    r"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(" + "|".join(MONEY_TABLES) + r")\b", re.I
)


def _module_aliases(tree: ast.Module) -> dict[str, str]:
    """Module-level names bound to a table (`notes, applied = lt.credit_notes, lt.x`)."""
    aliases: dict[str, str] = {}
    for node in tree.body:
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            pairs: list[tuple[ast.expr, ast.expr]] = []
            if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                pairs = list(zip(target.elts, node.value.elts, strict=False))
            else:
                pairs = [(target, node.value)]
            for name, value in pairs:
                if isinstance(name, ast.Name) and isinstance(value, ast.Attribute):
                    aliases[name.id] = value.attr
    return aliases


def _table_of(node: ast.expr, aliases: dict[str, str]) -> str | None:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return aliases.get(node.id, node.id)
    return None


def money_writes(path: Path) -> list[str]:
    """Every write of a money table in the module, as "file:line: what"."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    aliases = _module_aliases(tree)
    found: list[str] = []
    where = path.relative_to(SRC)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        target: ast.expr | None = None
        if isinstance(func, ast.Attribute) and func.attr in DML_FUNCTIONS and not node.args:
            target = func.value  # payments.insert(), t.allocations.delete() (not dict.update(x))
        elif isinstance(func, ast.Name) and func.id in DML_FUNCTIONS and node.args:
            target = node.args[0]  # insert(t.payments), update(lt.credit_notes)
        elif isinstance(func, ast.Name) and func.id in BULK_HELPERS and len(node.args) > 1:
            target = node.args[1]  # dialect_insert(conn, table), upsert(conn, table, ...)
        table = _table_of(target, aliases) if target is not None else None
        if table in MONEY_TABLES:
            found.append(f"{where}:{node.lineno}: {ast.unparse(node)[:80]}")
    for match in SQL_TEXT.finditer(source):
        line = source.count("\n", 0, match.start()) + 1
        found.append(f"{where}:{line}: SQL text {match.group(0)!r}")
    return found


def test_only_the_ledger_write_path_writes_the_money_tables() -> None:
    elsewhere = [
        write
        for path in sorted(SRC.rglob("*.py"))
        if path != WRITE_PATH
        for write in money_writes(path)
    ]
    assert elsewhere == []


def test_the_check_sees_each_form_of_write(tmp_path: Path) -> None:
    """The check itself can fail: each form of write is found in a module written to show it."""
    module = SRC / "_probe_for_test.py"
    module.write_text(
        "from sqlalchemy import delete, insert, text, update\n"
        "notes, applied = lt.credit_notes, lt.credit_note_allocations\n"
        "t.payments.insert()\n"
        "insert(t.allocations)\n"
        "update(notes)\n"
        "delete(applied)\n"
        "upsert(conn, mt.payment_reversals, rows, keys, cols)\n"
        "conn.execute(text('DELETE FROM refunds WHERE id = 1'))\n"
        "insert(t.statement_lines)\n",  # not a money table: not reported
        encoding="utf-8",
    )
    try:
        found = money_writes(module)
    finally:
        module.unlink()
    assert len(found) == 6
    assert all("statement_lines" not in f for f in found)
    assert money_writes(WRITE_PATH)  # and the write path does write them
