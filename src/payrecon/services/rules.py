"""The allocation rule book, read from `rules/` once per process and shared by every path money
takes into the ledger (bank lines, provider payments, credit notes, manual matches).

`rule_book(conn)` is that book with the tolerances owners set through the API
(`PUT /v1/contract-owners/{id}/tolerances`, table `owner_tolerances`) merged over the files':
an owner's stored tolerances win over `rules/owners/<id>.yaml` and `rules/default.yaml`."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from sqlalchemy import Connection, Engine, select

from payrecon.domain.matching.rules import RuleBook, RuleSetError, Tolerances
from payrecon.logging import get_logger
from payrecon.store.finance_tables import owner_tolerances

log = get_logger(__name__)


def default_rules_dir() -> Path:
    """The rule sets: packaged inside the wheel, or at the repository root in a checkout."""
    packaged = Path(str(resources.files("payrecon"))) / "_rules"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "rules"


@lru_cache(maxsize=4)
def load_rule_book(rules_dir: Path | None = None) -> RuleBook:
    """`default.yaml` and `owners/<owner id>.yaml`, validated once per process (call it at
    start-up to fail early); a bad file raises `RuleSetError` naming the file and the field."""
    directory = rules_dir or default_rules_dir()
    default = directory / "default.yaml"
    if not default.is_file():
        raise RuleSetError(f"{default}: the default rule set is missing")
    owners = sorted((directory / "owners").glob("*.yaml"))
    book = RuleBook.from_documents(
        (str(default), default.read_text(encoding="utf-8")),
        [(str(p), p.read_text(encoding="utf-8")) for p in owners],
    )
    log.info("match.rules.loaded", directory=str(directory), owners=sorted(book.owners))
    return book


def stored_tolerances(conn: Connection) -> dict[int, Tolerances]:
    """The tolerances owners set through the API, by contract owner id."""
    c = owner_tolerances.c
    return {
        int(r.contract_owner_id): Tolerances(write_off=r.write_off, bank_charges=r.bank_charges)
        for r in conn.execute(select(c.contract_owner_id, c.write_off, c.bank_charges))
    }


def rule_book(conn: Connection, rules_dir: Path | None = None) -> RuleBook:
    """The rule files' book with the owners' stored tolerances over it (they win)."""
    return load_rule_book(rules_dir).with_tolerances(stored_tolerances(conn))


def stored_rule_book(engine: Engine) -> RuleBook:
    """`rule_book` on a connection of its own (what a reconcile run starts with)."""
    with engine.connect() as conn:
        return rule_book(conn)
