"""Provider secrets sealed at rest: every stored `access_token` and `webhook_secret` of
`payment_providers` is encrypted with the newest key of `PAYRECON_SECRETS_KEY` (Fernet,
`payrecon.store.secrets`); the downgrade decrypts them again. No schema change.

The key ring comes from `payrecon db upgrade` (`upgrade_schema(..., secrets_keys=...)`, through
the Alembic config's attributes); a database that holds secrets cannot be migrated without it.
A value that already opens with the ring is left as it is, so a rerun seals nothing twice.

Revision ID: 0015_seal_provider_secrets
Revises: 0014_kept_amounts
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import context, op

from payrecon.store.secrets import SecretBox

revision = "0015_seal_provider_secrets"
down_revision = "0014_kept_amounts"
branch_labels = None
depends_on = None

_providers = sa.table(
    "payment_providers",
    sa.column("id", sa.Integer()),
    sa.column("access_token", sa.Text()),
    sa.column("webhook_secret", sa.Text()),
)
_COLUMNS = ("access_token", "webhook_secret")


def _box() -> SecretBox:
    keys = context.config.attributes.get("payrecon.secrets_keys")
    if not keys:
        raise RuntimeError(
            "payment_providers holds secrets: migrate with `payrecon db upgrade`, which passes "
            "the key ring of PAYRECON_SECRETS_KEY to seal (or open) them"
        )
    return SecretBox(keys)


def _rewrite(change: Callable[[SecretBox, str], str | None]) -> None:
    conn = op.get_bind()
    p = _providers.c
    rows = conn.execute(
        sa.select(p.id, p.access_token, p.webhook_secret).where(
            sa.or_(p.access_token.is_not(None), p.webhook_secret.is_not(None))
        )
    ).all()
    if not rows:
        return
    box = _box()
    for row in rows:
        values = {}
        for column in _COLUMNS:
            stored = getattr(row, column)
            if stored is not None:
                changed = change(box, stored)
                if changed is not None:
                    values[column] = changed
        if values:
            conn.execute(_providers.update().where(p.id == row.id).values(values))


def upgrade() -> None:
    _rewrite(lambda box, value: None if box.is_sealed(value) else box.seal(value))


def downgrade() -> None:
    _rewrite(lambda box, value: box.open(value) if box.is_sealed(value) else None)
