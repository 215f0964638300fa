"""The allocation rule book, read from `rules/` once per process and shared by every path money
takes into the ledger (bank lines, provider payments, credit notes, manual matches)."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from payrecon.domain.matching.rules import RuleBook, RuleSetError
from payrecon.logging import get_logger

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
