"""For tests that write ledger rows directly (fixtures, or a breach made behind the services'
back): set the kept amounts from the rows, as the ledger write path would have kept them."""

from __future__ import annotations

from sqlalchemy import Connection, update

from payrecon.store import ledger_tables as lt
from payrecon.store import tables as t
from payrecon.store.ledger_reads import (
    credit_note_unused_from_rows,
    open_amount_from_rows,
    payment_unused_from_rows,
)


def keep_amounts_from_rows(conn: Connection) -> None:
    conn.execute(update(t.invoices).values(open_amount=open_amount_from_rows()))
    conn.execute(update(t.payments).values(unused_amount=payment_unused_from_rows()))
    conn.execute(update(lt.credit_notes).values(unused_amount=credit_note_unused_from_rows()))
