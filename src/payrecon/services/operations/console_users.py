"""The console's users: created with `payrecon users add`, checked at sign-in.

Passwords are kept as argon2id hashes (argon2-cffi's defaults); a user holds the API's scopes
(`read`, `write`, `admin`) and every page and action of the console checks them as the API
does. A disabled or deleted user's session stops working at its next request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from payrecon.domain.errors import Conflict, InvalidInput
from payrecon.services.clock import utcnow
from payrecon.services.operations.audit_log import record_audit
from payrecon.store.console_tables import console_users

SCOPES = ("read", "write", "admin")
_hasher = PasswordHasher()
# Verified against when the name is unknown, so that a wrong name takes as long as a wrong password.
_NO_SUCH_USER = _hasher.hash("no such user")
_u = console_users.c


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    name: str
    scopes: frozenset[str]


def parse_scopes(scopes: Iterable[str]) -> frozenset[str]:
    wanted = frozenset(s.strip() for s in scopes if s.strip())
    unknown = sorted(wanted - set(SCOPES))
    if unknown or not wanted:
        raise InvalidInput(
            f"scopes must be among {', '.join(SCOPES)}; got {', '.join(sorted(wanted)) or 'none'}"
        )
    return wanted


def add_user(engine: Engine, name: str, password: str, scopes: Iterable[str]) -> ConsoleUser:
    """Create a user; an existing name is a conflict (use `set_password`)."""
    name = name.strip()
    if not name or len(name) > 128:
        raise InvalidInput("a user name is 1 to 128 characters")
    if len(password) < 8:
        raise InvalidInput("a password is at least 8 characters")
    held = parse_scopes(scopes)
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(console_users).values(
                    name=name,
                    password_hash=_hasher.hash(password),
                    scopes=" ".join(sorted(held)),
                    disabled=False,
                    created_at=utcnow(),
                )
            )
            record_audit(
                conn,
                actor="cli",
                action="console_user.added",
                entity="console_user",
                entity_id=name,
                details={"scopes": sorted(held)},
            )
    except IntegrityError:
        raise Conflict(f"user {name!r} exists already") from None
    return ConsoleUser(name, held)


def set_password(engine: Engine, name: str, password: str) -> None:
    if len(password) < 8:
        raise InvalidInput("a password is at least 8 characters")
    with engine.begin() as conn:
        done = conn.execute(
            update(console_users)
            .where(_u.name == name)
            .values(password_hash=_hasher.hash(password))
        ).rowcount
        if not done:
            raise InvalidInput(f"user {name!r} does not exist")
        record_audit(
            conn,
            actor="cli",
            action="console_user.password_set",
            entity="console_user",
            entity_id=name,
        )


def authenticate(engine: Engine, name: str, password: str) -> ConsoleUser | None:
    """The user when the name and password are right and the user is enabled, else None."""
    with engine.connect() as conn:
        row = conn.execute(
            select(_u.password_hash, _u.scopes, _u.disabled).where(_u.name == name)
        ).first()
    try:
        _hasher.verify(row.password_hash if row else _NO_SUCH_USER, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or row.disabled:
        return None
    return ConsoleUser(name, frozenset(row.scopes.split()))


def current_user(engine: Engine, name: str) -> ConsoleUser | None:
    """The user as stored now (None: deleted or disabled), read at every console request."""
    with engine.connect() as conn:
        row = conn.execute(select(_u.scopes, _u.disabled).where(_u.name == name)).first()
    if row is None or row.disabled:
        return None
    return ConsoleUser(name, frozenset(row.scopes.split()))


def list_users(engine: Engine) -> list[tuple[str, str, bool]]:
    with engine.connect() as conn:
        return [
            (r.name, r.scopes, bool(r.disabled))
            for r in conn.execute(select(_u.name, _u.scopes, _u.disabled).order_by(_u.name))
        ]
