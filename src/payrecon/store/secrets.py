"""Secrets at rest: a provider's access token and webhook secret are stored encrypted.

`SecretBox` seals text with Fernet (AES-128-CBC and HMAC-SHA256, a timestamped token) under a key
ring, `PAYRECON_SECRETS_KEY`: comma-separated Fernet keys, the newest first. It seals with the
first key and opens with any of them, so a key is rotated by putting the new one in front, running
`payrecon secrets rotate` (which re-seals every stored secret with the new key), then dropping the
old key (docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from payrecon.domain.errors import PayreconError


class SecretUnreadable(PayreconError):
    """A stored secret does not open with any key of the ring (a key was dropped too early, or
    the value was written without sealing)."""

    code = "secret_unreadable"


def parse_key_ring(text: str) -> list[str]:
    """The keys of `PAYRECON_SECRETS_KEY`, each checked to be a Fernet key (ValueError if not)."""
    keys = [k.strip() for k in text.split(",") if k.strip()]
    if not keys:
        raise ValueError("PAYRECON_SECRETS_KEY holds no key")
    for index, key in enumerate(keys):
        try:
            Fernet(key)
        except ValueError:
            raise ValueError(
                f"PAYRECON_SECRETS_KEY key {index + 1} is not a Fernet key (32 url-safe base64 "
                "bytes; make one with `payrecon secrets new-key`)"
            ) from None
    return keys


class SecretBox:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("a SecretBox needs at least one key")
        self._ring = MultiFernet([Fernet(k) for k in keys])

    def __repr__(self) -> str:
        return "SecretBox(***)"

    def seal(self, plaintext: str) -> str:
        return self._ring.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def open(self, sealed: str, *, what: str = "a stored secret") -> str:
        try:
            return self._ring.decrypt(sealed.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SecretUnreadable(
                f"{what} does not decrypt with any key of PAYRECON_SECRETS_KEY"
            ) from None

    def is_sealed(self, value: str) -> bool:
        """Whether `value` opens with this ring (else it is plaintext, or sealed under a key
        the ring no longer has)."""
        try:
            self._ring.decrypt(value.encode("ascii"))
        except (InvalidToken, UnicodeError):
            return False
        return True

    def reseal(self, sealed: str, *, what: str = "a stored secret") -> str:
        """The same secret sealed with the ring's first (newest) key."""
        try:
            return self._ring.rotate(sealed.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise SecretUnreadable(
                f"{what} does not decrypt with any key of PAYRECON_SECRETS_KEY"
            ) from None
