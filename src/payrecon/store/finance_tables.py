"""What finance keeps beside the ledger (migration 0018_currencies): the exchange rates admins
record, dated, and each contract owner's tolerances set through the API.

    exchange_rates      1 `base` = `rate` `quote` for money dated from `valid_from` (until the
                        next rate of the pair); unique per pair and date
    owner_tolerances    a contract owner's write-off and bank-charges tolerances; they win over
                        the rule files' (`services.rules.rule_book`)
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from payrecon.store.tables import metadata
from payrecon.store.types import Amount, Id

RATE = Amount(scale=8, precision=24)

exchange_rates = Table(
    "exchange_rates",
    metadata,
    Column("id", Id, primary_key=True),
    Column("base_currency", String(3), nullable=False),
    Column("quote_currency", String(3), nullable=False),
    Column("rate", RATE, nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("note", Text),
    Column("created_by", String(255)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("base_currency", "quote_currency", "valid_from"),
    CheckConstraint("rate > 0", name="rate_positive"),
    CheckConstraint("base_currency <> quote_currency", name="two_currencies"),
)

owner_tolerances = Table(
    "owner_tolerances",
    metadata,
    Column(
        "contract_owner_id",
        Id,
        ForeignKey("contract_owners.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("write_off", Amount(), nullable=False),
    Column("bank_charges", Amount(), nullable=False),
    Column("updated_by", String(255)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("write_off >= 0 AND bank_charges >= 0", name="not_negative"),
)
