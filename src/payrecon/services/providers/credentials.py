"""Where a provider's secrets may go, and how they are kept.

A provider's access token is sent to its base URL on every poll, so the URL is held to the
provider's own hosts over https (`PROVIDER_HOSTS`); the local sandbox (`http://127.0.0.1:PORT`,
`localhost`) only where `Settings.local_sandbox_allowed` (development and test). The check runs
when an admin writes the URL and again before any client is built, so a row written before the
rule (or by hand) cannot leak the token either. Changing where the token would go (the URL, or the
kind whose default URL applies) clears the stored token: the operator sets it again for the new
host (`services.admin.entities.PAYMENT_PROVIDERS`).

Secrets are sealed at rest (`store.secrets.SecretBox`); `ProviderCredentials` seals them on write
and opens them only for a client about to use them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr
from sqlalchemy import Engine, select, update

from payrecon.domain.errors import InvalidInput
from payrecon.feeds.gocardless import GOCARDLESS_LIVE_URL, GOCARDLESS_SANDBOX_URL
from payrecon.feeds.openbanking import OPENBANKING_URL
from payrecon.feeds.stripe import STRIPE_URL
from payrecon.services.admin.resources import WritePolicy
from payrecon.services.providers.events import ProviderConfig
from payrecon.store import admin_tables as a
from payrecon.store.secrets import SecretBox

DEFAULT_URLS = {
    "gocardless": GOCARDLESS_LIVE_URL,
    "stripe": STRIPE_URL,
    "openbanking": OPENBANKING_URL,
}
PROVIDER_HOSTS: Mapping[str, frozenset[str]] = {
    "gocardless": frozenset(
        urlsplit(u).hostname or "" for u in (GOCARDLESS_LIVE_URL, GOCARDLESS_SANDBOX_URL)
    ),
    "stripe": frozenset({urlsplit(STRIPE_URL).hostname or ""}),
    "openbanking": frozenset({urlsplit(OPENBANKING_URL).hostname or ""}),
}
LOCAL_SANDBOX_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def effective_base_url(kind: str, base_url: str | None) -> str | None:
    """The URL a provider's token goes to: its own, else its kind's default."""
    return base_url or DEFAULT_URLS.get(kind)


def check_base_url(kind: str, base_url: str | None, *, local_sandbox_allowed: bool) -> None:
    """InvalidInput unless `base_url` is https on one of the kind's hosts, or the local sandbox
    where that is allowed. Kinds without an API (`bank`, `manual`) take any https URL."""
    if base_url is None:
        return
    try:
        parts = urlsplit(base_url)
        host, _ = parts.hostname, parts.port  # .port raises on a bad port
    except ValueError:
        host, parts = None, None
    problem = None
    if parts is None or host is None:
        problem = "is not a URL with a host"
    elif parts.username is not None or parts.password is not None:
        problem = "must not carry credentials"
    elif host in LOCAL_SANDBOX_HOSTS and parts.scheme in ("http", "https"):
        if not local_sandbox_allowed:
            problem = "is the local sandbox, allowed only in development and test"
    elif parts.scheme != "https":
        problem = "must use https"
    elif kind in PROVIDER_HOSTS and host not in PROVIDER_HOSTS[kind]:
        hosts = ", ".join(sorted(PROVIDER_HOSTS[kind]))
        problem = f"must be on {kind}'s own hosts ({hosts})"
    if problem:
        raise InvalidInput(
            f"baseUrl {base_url!r} {problem}",
            details={"field": "baseUrl", "allowed": sorted(PROVIDER_HOSTS.get(kind, ()))},
        )


@dataclass(frozen=True)
class ProviderCredentials:
    """The key ring and the host rule of this deployment (built from the settings by
    `bootstrap.Container.credentials`)."""

    box: SecretBox
    local_sandbox_allowed: bool

    def write_policy(self) -> WritePolicy:
        """How the admin API writes a payment provider: secrets sealed, the URL checked."""

        def check(values: Mapping[str, Any]) -> None:
            check_base_url(
                values["kind"],
                values.get("baseUrl"),
                local_sandbox_allowed=self.local_sandbox_allowed,
            )

        return WritePolicy(seal=self.box.seal, check=check)

    def base_url(self, provider: ProviderConfig) -> str:
        url = effective_base_url(provider.kind, provider.base_url)
        if url is None:
            raise InvalidInput(f"provider {provider.id} is of kind {provider.kind}: no API")
        check_base_url(provider.kind, url, local_sandbox_allowed=self.local_sandbox_allowed)
        return url

    def access_token(self, provider: ProviderConfig) -> SecretStr | None:
        sealed = provider.sealed_access_token
        if sealed is None:
            return None
        what = f"provider {provider.id}'s access token"
        return SecretStr(self.box.open(sealed.get_secret_value(), what=what))

    def webhook_secret(self, provider: ProviderConfig) -> SecretStr | None:
        sealed = provider.sealed_webhook_secret
        if sealed is None:
            return None
        what = f"provider {provider.id}'s webhook secret"
        return SecretStr(self.box.open(sealed.get_secret_value(), what=what))


def reseal_provider_secrets(engine: Engine, box: SecretBox) -> int:
    """Seal every stored provider secret again with the ring's newest key (after a rotation put
    it first); one transaction. Returns the number of secrets re-sealed."""
    p = a.payment_providers.c
    count = 0
    with engine.begin() as conn:
        rows = conn.execute(
            select(p.id, p.access_token, p.webhook_secret).order_by(p.id).with_for_update()
        ).all()
        for row in rows:
            values: dict[str, str] = {}
            for column in ("access_token", "webhook_secret"):
                sealed = getattr(row, column)
                if sealed is not None:
                    values[column] = box.reseal(sealed, what=f"provider {row.id}'s {column}")
            if values:
                conn.execute(update(a.payment_providers).where(p.id == row.id).values(values))
                count += len(values)
    return count
