"""Open-banking accounts (GoCardless Bank Account Data) as statement lines.

An account is polled once registered (`register_openbanking_account`: a `provider_cursors` row
`transactions:<account id>` whose watermark is the last day polled). Each poll walks the date
windows from that day (less the client's overlap) to today; each window's booked transactions and
the new watermark are written in one transaction, as bank-file lines are: one `feed_files` row per
page (source `openbanking`, SHA-256 of the provider, account and transaction ids), lines inserted
with ON CONFLICT (account, external_id) DO NOTHING and left `pending` for the reconciler. The
line's account is the Bank Account Data account id; its contract owner is the owner whose bank
account that is, when one is configured.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from payrecon.domain.lines import StatementLine
from payrecon.feeds.openbanking import OpenBankingClient
from payrecon.services.clock import utcnow
from payrecon.services.providers.events import ProviderConfig, load_provider
from payrecon.services.reconciliation.ingest import statement_line_row
from payrecon.services.reconciliation.owner_accounts import owner_accounts, owner_of_account
from payrecon.store import provider_tables as pt
from payrecon.store import tables as t
from payrecon.store.bulk import insert_ignoring_conflicts

ACCOUNT_PREFIX = "transactions:"


@dataclass(slots=True)
class AccountPoll:
    pages: int = 0
    read: dict[str, int] = field(default_factory=dict)  # lines read per account resource
    new_lines: int = 0


def register_openbanking_account(
    engine: Engine, provider_id: int, account_id: str, *, now: datetime | None = None
) -> bool:
    """Start polling an account of an open-banking provider; False if it was registered."""
    with engine.begin() as conn:
        provider = load_provider(conn, provider_id, kind="openbanking")
        row = {
            "provider_id": provider.id,
            "resource": ACCOUNT_PREFIX + account_id,
            "updated_at": now or utcnow(),
        }
        keys = ["provider_id", "resource"]
        return bool(insert_ignoring_conflicts(conn, pt.provider_cursors, [row], keys))


def poll_accounts(
    engine: Engine, provider: ProviderConfig, client: OpenBankingClient, now: datetime
) -> AccountPoll:
    """Poll every registered account of the provider up to `now`'s date."""
    c = pt.provider_cursors.c
    polled = AccountPoll()
    with engine.connect() as conn:
        resources = list(
            conn.execute(
                select(c.resource).where(
                    c.provider_id == provider.id, c.resource.startswith(ACCOUNT_PREFIX)
                )
            ).scalars()
        )
        owners = owner_accounts(conn)
    for resource in sorted(resources):
        account = resource.removeprefix(ACCOUNT_PREFIX)
        owner = owner_of_account(owners, account)
        with engine.connect() as conn:
            since = pt.read_cursor(conn, provider.id, resource).get("watermark")
        pages = client.statement_line_pages(
            account, until=now.date(), since=date.fromisoformat(since) if since else None
        )
        for page in pages:
            with engine.begin() as conn:
                polled.new_lines += _store_lines(conn, provider, account, owner, page.records, now)
                pt.save_cursor(conn, provider.id, resource, {"watermark": page.next_cursor}, now)
            polled.read[resource] = polled.read.get(resource, 0) + len(page.records)
            polled.pages += 1
    return polled


def _store_lines(
    conn: Connection,
    provider: ProviderConfig,
    account: str,
    owner: int | None,
    lines: Sequence[StatementLine],
    now: datetime,
) -> int:
    """One feed file per page of lines (by the SHA-256 of its transaction ids); new lines only."""
    if not lines:
        return 0
    ids = sorted(line.external_id for line in lines)
    digest = hashlib.sha256(
        "\n".join(["openbanking", str(provider.id), account, *ids]).encode()
    ).hexdigest()
    feed = {
        "sha256": digest,
        "filename": f"openbanking/{provider.name}/{account}/{ids[0]}..{ids[-1]}"[:512],
        "format": "openbanking",
        "status": "processed",
        "source": "openbanking",
        "contract_owner_id": owner,
        "line_count": len(lines),
        "received_at": now,
        "processed_at": now,
    }
    created = insert_ignoring_conflicts(conn, t.feed_files, [feed], ["sha256"])
    if not created:
        return 0  # this very page was stored before, with its lines
    rows = [
        statement_line_row(created[0], owner, seq, line, now) for seq, line in enumerate(lines, 1)
    ]
    new = len(insert_ignoring_conflicts(conn, t.statement_lines, rows, ["account", "external_id"]))
    conn.execute(
        t.feed_files.update().where(t.feed_files.c.id == created[0]).values(new_line_count=new)
    )
    return new


def list_openbanking_accounts(engine: Engine, provider_id: int) -> list[dict[str, Any]]:
    """The accounts registered for polling, with the last day polled (None before the first)."""
    c = pt.provider_cursors.c
    with engine.connect() as conn:
        provider = load_provider(conn, provider_id, kind="openbanking")
        rows = conn.execute(
            select(c.resource, c.watermark, c.updated_at)
            .where(c.provider_id == provider.id, c.resource.startswith(ACCOUNT_PREFIX))
            .order_by(c.resource)
        ).all()
    return [
        {
            "providerId": provider.id,
            "accountId": r.resource.removeprefix(ACCOUNT_PREFIX),
            "lastPolledDate": r.watermark,
            "updatedAt": r.updated_at,
        }
        for r in rows
    ]
