"""The schema, as SQLAlchemy Core tables. Alembic migrations (migrations/) create it; a test checks
that the migrated database and these definitions agree.

Money columns use `Amount` (exact on SQLite and PostgreSQL). Timestamps are timezone-aware UTC.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)

from payrecon.store.types import Amount, Id

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _created_at() -> Column[object]:
    return Column("created_at", DateTime(timezone=True), nullable=False)


contract_owners = Table(
    "contract_owners",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(255), nullable=False),
    Column("price_rounding_mode", String(16), nullable=False, server_default="HALF_UP"),
    Column("price_decimal_places", Integer, nullable=False, server_default="2"),
    Column("enable_balance_carry_forward", Boolean, nullable=False, server_default="1"),
    Column("bank_account_name", String(255)),
    Column("bank_iban", String(34)),
    Column("bank_account_number", String(34)),
    Column("bank_sort_code", String(16)),
    Column("bank_swift_code", String(11)),
    Column("invoice_number_format", String(255)),
    _created_at(),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(
        "price_rounding_mode IN ('UP','DOWN','CEILING','FLOOR','HALF_UP','HALF_DOWN','HALF_EVEN')",
        name="rounding_mode",
    ),
    CheckConstraint("price_decimal_places BETWEEN 0 AND 6", name="decimal_places"),
)

customers = Table(
    "customers",
    metadata,
    Column("id", Id, primary_key=True),
    Column("external_id", String(64), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
    Column("contract_owner_id", Id, ForeignKey("contract_owners.id"), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("credit_threshold", Amount(), nullable=False),
    Column("account_number", String(64)),
    _created_at(),
    # Added by 0011_customer_billing_cycle: the cycle that bills the customer (seeds 002/003).
    Column("billing_cycle_id", Id, ForeignKey("billing_cycles.id")),
)
Index("ix_customers_account_number", customers.c.account_number)
# Added by 0023_customers_created_at: the latest customer, read for every batch of lines routed.
Index("ix_customers_created_at", customers.c.created_at)

customer_bank_accounts = Table(
    "customer_bank_accounts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("customer_id", Id, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
    Column("iban", String(34), nullable=False),
    Column("source", String(16), nullable=False, server_default="import"),
    _created_at(),
    UniqueConstraint("customer_id", "iban"),
)
Index("ix_customer_bank_accounts_iban", customer_bank_accounts.c.iban)

mandates = Table(
    "mandates",
    metadata,
    Column("id", Id, primary_key=True),
    Column("customer_id", Id, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
    Column("reference", String(64), nullable=False, unique=True),
    Column("status", String(32), nullable=False, server_default="active"),
    _created_at(),
)

invoices = Table(
    "invoices",
    metadata,
    Column("id", Id, primary_key=True),
    Column("external_id", String(64), nullable=False, unique=True),
    Column("invoice_number", String(64), nullable=False, unique=True),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("kind", String(16), nullable=False, server_default="standard"),
    Column("issue_date", Date, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("total", Amount(), nullable=False),
    _created_at(),
    # Added by 0014_kept_amounts: total - live allocations, kept by store.ledger_writes.
    Column("open_amount", Amount(), nullable=False),
    # Added by 0024_invoice_number_key_column: the normalised number (`INV1234` for
    # `INV-0001234`) references are looked up by; written by the imports, NULL until
    # `store.queries.sync_invoice_keys` computes it for an invoice written otherwise.
    Column("number_key", String(64)),
    CheckConstraint("kind IN ('standard','adhoc')", name="kind"),
    CheckConstraint("total >= 0", name="total_not_negative"),
    CheckConstraint("open_amount >= 0 AND open_amount <= total", name="open_amount"),
    # 0025_room_for_hot_updates: room on each page for the open amounts' updates.
    postgresql_with={"fillfactor": 85},
)
Index("ix_invoices_customer_due", invoices.c.customer_id, invoices.c.due_date)
Index("ix_invoices_number_key", invoices.c.number_key)

feed_files = Table(
    "feed_files",
    metadata,
    Column("id", Id, primary_key=True),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("filename", String(512), nullable=False),
    Column("format", String(16)),
    Column("status", String(16), nullable=False),
    Column("error", Text),
    Column("line_count", Integer, nullable=False, server_default="0"),
    Column("new_line_count", Integer, nullable=False, server_default="0"),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("processed_at", DateTime(timezone=True)),
    # Added by 0007_ingestion: how the file came in, and whose account the statements are of.
    Column("source", String(16), nullable=False, server_default="cli"),
    Column("contract_owner_id", Id, ForeignKey("contract_owners.id")),
    CheckConstraint(
        "status IN ('received','processed','quarantined')",
        name="status",
    ),
)

statement_lines = Table(
    "statement_lines",
    metadata,
    Column("id", Id, primary_key=True),
    Column("feed_file_id", Id, ForeignKey("feed_files.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("account", String(64), nullable=False),
    Column("external_id", String(128), nullable=False),
    Column("booking_date", Date, nullable=False),
    Column("value_date", Date),
    Column("amount", Amount(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("counterparty_name", String(255)),
    Column("counterparty_account", String(64)),
    Column("remittance", Text),
    Column("structured_reference", String(64)),
    Column("end_to_end_id", String(128)),
    Column("mandate_id", String(64)),
    Column("bank_transaction_code", String(64)),
    Column("return_reason", String(16)),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("reason", Text),
    Column("customer_id", Id, ForeignKey("customers.id")),
    _created_at(),
    # Added by 0007_ingestion: the contract owner whose bank account the line was booked on.
    Column("contract_owner_id", Id, ForeignKey("contract_owners.id")),
    # Added by 0016_partitions: the reconcile partition the line was routed to (NULL: not yet).
    Column("partition", SmallInteger),
    UniqueConstraint("account", "external_id"),
    CheckConstraint("status IN ('pending','matched','unmatched','ignored')", name="status"),
)
Index("ix_statement_lines_status", statement_lines.c.status, statement_lines.c.booking_date)
Index(
    "ix_statement_lines_pending_by_partition",
    statement_lines.c.partition,
    statement_lines.c.booking_date,
    statement_lines.c.feed_file_id,
    statement_lines.c.seq,
    postgresql_where=statement_lines.c.status == "pending",
    sqlite_where=statement_lines.c.status == "pending",
)

# Added by 0016_partitions: the chunks of a file ingested in pieces, with their counts and sums.
feed_file_chunks = Table(
    "feed_file_chunks",
    metadata,
    Column("id", Id, primary_key=True),
    Column("feed_file_id", Id, ForeignKey("feed_files.id", ondelete="CASCADE"), nullable=False),
    Column("chunk_no", Integer, nullable=False),
    Column("lines", Integer, nullable=False),
    Column("new_lines", Integer, nullable=False),
    Column("totals", JSON, nullable=False),
    _created_at(),
    UniqueConstraint("feed_file_id", "chunk_no"),
)

payments = Table(
    "payments",
    metadata,
    Column("id", Id, primary_key=True),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("statement_line_id", Id, ForeignKey("statement_lines.id"), unique=True),
    Column("source", String(16), nullable=False),
    Column("external_id", String(128)),
    Column("payment_mode", String(50), nullable=False, server_default="BankTransfer"),
    Column("date", Date, nullable=False),
    Column("amount", Amount(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("exchange_rate", Amount(scale=8, precision=24), nullable=False),
    Column("bank_charges", Amount(), nullable=False),
    Column("tax_amount_withheld", Amount(), nullable=False),
    Column("reference_number", String(128)),
    Column("description", Text),
    Column("status", String(16), nullable=False, server_default="active"),
    _created_at(),
    # Added by 0014_kept_amounts: amount - refunds - allocations while active, kept by
    # store.ledger_writes.
    Column("unused_amount", Amount(), nullable=False),
    # Added by 0018_currencies: a payment in another currency than its customer's is counted in
    # the customer's through a recorded rate (`exchange_rate`, from `rate_source`, dated
    # `rate_date`): `bcy_amount` is then that amount, and `unused_amount` is kept in it too.
    # NULL: the payment is in the customer's currency (bcy amount = amount).
    Column("bcy_amount", Amount()),
    Column("rate_source", String(16)),
    Column("rate_date", Date),
    # Seed 001's `payment_number`: a sequence of its own, given by the ledger write path.
    Column("payment_number", Integer, unique=True),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("status IN ('active','reversed')", name="status"),
    CheckConstraint(
        "unused_amount >= 0 AND unused_amount <= COALESCE(bcy_amount, amount)",
        name="unused_amount",
    ),
    CheckConstraint("bcy_amount IS NULL OR bcy_amount > 0", name="bcy_amount_positive"),
)
Index("ix_payments_customer_date", payments.c.customer_id, payments.c.date)
# Added by 0021_payment_list_indexes: the list's filters by date and by reference.
Index("ix_payments_date", payments.c.date, payments.c.id)
Index("ix_payments_reference_number_lower", func.lower(payments.c.reference_number))

allocations = Table(
    "allocations",
    metadata,
    Column("id", Id, primary_key=True),
    Column("payment_id", Id, ForeignKey("payments.id", ondelete="CASCADE"), nullable=False),
    Column("invoice_id", Id, ForeignKey("invoices.id"), nullable=False),
    Column("amount", Amount(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("rule", String(64), nullable=False),
    Column("confidence", Amount(scale=3, precision=4), nullable=False),
    Column("evidence", JSON, nullable=False),
    _created_at(),
    # Added by 0018_currencies: `amount` and `currency` are the invoice's; a payment in another
    # currency records here the rate it was converted at and its own amount and currency
    # (NULL: the payment's currency is the invoice's).
    Column("exchange_rate", Amount(scale=8, precision=24)),
    Column("original_amount", Amount()),
    Column("original_currency", String(3)),
    CheckConstraint("amount > 0", name="amount_positive"),
)
Index("ix_allocations_invoice", allocations.c.invoice_id)
Index("ix_allocations_payment", allocations.c.payment_id)

customer_balances = Table(
    "customer_balances",
    metadata,
    Column("customer_id", Id, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("balance", Amount(), nullable=False),
    Column("total_invoiced", Amount(), nullable=False),
    Column("total_payments", Amount(), nullable=False),
    Column("total_payments_since_last_invoice", Amount(), nullable=False),
    # When these figures were last written: a recompute that finds them unchanged leaves the row.
    Column("computed_at", DateTime(timezone=True), nullable=False),
    # 0025_room_for_hot_updates: room on each page for the recomputes' updates.
    postgresql_with={"fillfactor": 80},
)

task_runs = Table(
    "task_runs",
    metadata,
    Column("id", Id, primary_key=True),
    Column("task_id", String(64)),
    Column("name", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("params", JSON, nullable=False),
    Column("counts", JSON, nullable=False),
    Column("error", Text),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    # Added by 0017_task_heartbeats: a running run beats; `worker` names its process.
    Column("heartbeat_at", DateTime(timezone=True)),
    Column("worker", String(255)),
    # 0019_task_runs_interrupted added `interrupted` and `retried`.
    CheckConstraint(
        "status IN ('running','succeeded','failed','retrying','interrupted','retried','lost',"
        "'dead_lettered','breached')",
        name="status",
    ),
)
Index("ix_task_runs_name_started", task_runs.c.name, task_runs.c.started_at)
Index(
    "ix_task_runs_running",
    task_runs.c.heartbeat_at,
    postgresql_where=task_runs.c.status == "running",
    sqlite_where=task_runs.c.status == "running",
)
Index("ix_task_runs_task_id", task_runs.c.task_id)
Index(
    "ix_task_runs_interrupted",
    task_runs.c.task_id,
    postgresql_where=task_runs.c.status == "interrupted",
    sqlite_where=task_runs.c.status == "interrupted",
)
