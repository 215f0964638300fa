"""A contract owner's tolerances, set through the API (`PUT /v1/contract-owners/{id}/tolerances`):
the shortfalls its bank lines may leave and still settle their invoices, written off or booked as
bank charges (DESIGN.md: per owner, off by default). Stored in `owner_tolerances`; the matcher's
rule book takes them over the rule files' (`services.rules.rule_book`). Without a stored row an
owner has the files' tolerances (`source: rules`)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, select

from payrecon.domain.errors import InvalidInput, NotFound
from payrecon.services.clock import utcnow
from payrecon.services.operations.audit_log import record_audit
from payrecon.services.rules import load_rule_book
from payrecon.store import tables as t
from payrecon.store.bulk import dialect_insert
from payrecon.store.finance_tables import owner_tolerances

_c = owner_tolerances.c


def _owner(conn: Connection, owner_id: int) -> Any:
    row = conn.execute(
        select(t.contract_owners.c.id, t.contract_owners.c.price_decimal_places).where(
            t.contract_owners.c.id == owner_id
        )
    ).first()
    if row is None:
        raise NotFound(f"contract owner {owner_id} does not exist")
    return row


def get_tolerances(engine: Engine, owner_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        _owner(conn, owner_id)
        row = conn.execute(select(owner_tolerances).where(_c.contract_owner_id == owner_id)).first()
    if row is None:
        files = load_rule_book().for_owner(owner_id).tolerances
        return {
            "contractOwnerId": owner_id,
            "writeOff": files.write_off,
            "bankCharges": files.bank_charges,
            "source": "rules",
            "updatedBy": None,
            "updatedAt": None,
        }
    return {
        "contractOwnerId": owner_id,
        "writeOff": row.write_off,
        "bankCharges": row.bank_charges,
        "source": "api",
        "updatedBy": row.updated_by,
        "updatedAt": row.updated_at,
    }


def set_tolerances(
    engine: Engine,
    owner_id: int,
    *,
    write_off: Decimal,
    bank_charges: Decimal,
    actor: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Replace the owner's tolerances (both given); audited. They apply from the next
    reconcile run on."""
    now = now or utcnow()
    with engine.begin() as conn:
        owner = _owner(conn, owner_id)
        for field, value in (("writeOff", write_off), ("bankCharges", bank_charges)):
            if value < 0:
                raise InvalidInput(f"{field} must not be negative", details={"field": field})
            exponent = value.as_tuple().exponent
            if isinstance(exponent, int) and -exponent > owner.price_decimal_places:
                raise InvalidInput(
                    f"{field} has more than the owner's {owner.price_decimal_places} places",
                    details={"field": field},
                )
        row = {
            "contract_owner_id": owner_id,
            "write_off": write_off,
            "bank_charges": bank_charges,
            "updated_by": actor,
            "updated_at": now,
        }
        stmt = dialect_insert(conn, owner_tolerances).values(row)
        stmt = stmt.on_conflict_do_update(
            index_elements=["contract_owner_id"],
            set_={
                k: stmt.excluded[k]
                for k in ("write_off", "bank_charges", "updated_by", "updated_at")
            },
        )
        conn.execute(stmt)
        record_audit(
            conn,
            actor=actor,
            action="contract_owner.tolerances_set",
            entity="contract_owner",
            entity_id=owner_id,
            reason=None,
            details={"writeOff": f"{write_off:f}", "bankCharges": f"{bank_charges:f}"},
        )
    return get_tolerances(engine, owner_id)
