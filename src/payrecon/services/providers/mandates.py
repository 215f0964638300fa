"""GoCardless mandates synced like payments: the `mandates` pass of a sync stores each new
mandate read (incrementally, by the same cursor and watermark), and mandate events (pulled or by
webhook) move a stored mandate's status.

    a mandate whose id is a stored mandate's reference (imported with the customers)
        -> that row gets its provider, status, scheme and the provider's customer id
    a new mandate of a provider customer another stored mandate belongs to
        -> a new row for that payrecon customer
    otherwise
        -> not stored (counted `unlinked`): payrecon cannot tell whose it is; import or create
           it (`/v1/site-payment-mandates`) and the next sync completes it
A newer word never loses to an older one: an event moves the status only if it happened after
the row was last changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, or_, select, update

from payrecon.domain.providers import MandateStatus, ProviderEvent, ProviderMandate
from payrecon.store import tables as t


@dataclass(slots=True)
class MandateCounts:
    updated: int = 0
    created: int = 0
    unlinked: int = 0

    def add(self, other: MandateCounts) -> None:
        self.updated += other.updated
        self.created += other.created
        self.unlinked += other.unlinked

    def as_counts(self) -> dict[str, int]:
        return {
            "mandates_updated": self.updated,
            "mandates_created": self.created,
            "mandates_unlinked": self.unlinked,
        }


def store_mandates(
    conn: Connection, provider_id: int, mandates: Sequence[ProviderMandate], now: datetime
) -> MandateCounts:
    counts = MandateCounts()
    m = t.mandates.c
    for mandate in mandates:
        values = {
            "provider_id": provider_id,
            "status": mandate.status.value,
            "scheme": mandate.scheme,
            "provider_customer_id": mandate.customer_id,
            "updated_at": now,
        }
        changed = conn.execute(
            update(t.mandates)
            .where(
                m.reference == mandate.external_id,
                or_(m.provider_id.is_(None), m.provider_id == provider_id),
            )
            .values(**values)
        ).rowcount
        if changed:
            counts.updated += 1
            continue
        exists = conn.execute(
            select(m.id).where(m.reference == mandate.external_id)
        ).scalar_one_or_none()
        if exists is not None:  # another provider's mandate of that reference: not ours
            counts.unlinked += 1
            continue
        customer = None
        if mandate.customer_id:
            customer = conn.execute(
                select(m.customer_id)
                .where(m.provider_id == provider_id, m.provider_customer_id == mandate.customer_id)
                .order_by(m.id)
                .limit(1)
            ).scalar_one_or_none()
        if customer is None:
            counts.unlinked += 1
            continue
        conn.execute(
            t.mandates.insert().values(
                customer_id=customer,
                reference=mandate.external_id,
                created_at=mandate.created_at,
                **values,
            )
        )
        counts.created += 1
    return counts


def apply_mandate_events(
    conn: Connection, provider_id: int, events: Sequence[ProviderEvent]
) -> int:
    """Move stored mandates to the status their events name (`cancelled`, `active`, ...);
    returns how many rows changed."""
    known = {s.value for s in MandateStatus}
    changed = 0
    m = t.mandates.c
    for event in sorted(events, key=lambda e: e.created_at):
        mandate = event.links.get("mandate")
        if event.resource_type != "mandates" or not mandate or event.action not in known:
            continue
        at = event.created_at if event.created_at.tzinfo else event.created_at.replace(tzinfo=UTC)
        changed += int(
            conn.execute(
                update(t.mandates)
                .where(
                    m.reference == mandate,
                    or_(m.provider_id.is_(None), m.provider_id == provider_id),
                    or_(m.updated_at.is_(None), m.updated_at <= at),
                )
                .values(status=event.action, provider_id=provider_id, updated_at=at)
            ).rowcount
            or 0
        )
    return changed
