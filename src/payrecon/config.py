"""One settings object, read from the environment (prefix PAYRECON_) and validated at start-up.

Nothing below `bootstrap.py` reads `os.environ`; everything else receives a `Settings`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from payrecon.store.secrets import parse_key_ring

DEVELOPMENT_SECRET = "dev-only-not-a-secret-replace-in-production"  # noqa: S105 - refused outside development
_PLACEHOLDERS = {DEVELOPMENT_SECRET, "changeme", "change-me", "secret", ""}
# A public Fernet key: provider secrets sealed with it are as good as plaintext. Refused in
# production; development and tests use it so that nothing needs configuring.
DEVELOPMENT_SECRETS_KEY = "KrsRO-gu9-UA5BFDH0dCExxqhbrXAu3ypYbsuul3d7k="


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYRECON_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///./payrecon.db"
    broker_url: str = "memory://"
    result_backend: str | None = Field(
        default=None, description="Celery result backend; derived from the broker when unset."
    )
    api_token_secret: SecretStr = SecretStr(DEVELOPMENT_SECRET)
    secrets_key: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_SECRETS_KEY),
        description="Fernet key ring for provider secrets at rest: comma-separated, newest first.",
    )
    feed_store_dir: Path = Path("./var/feeds")
    inbox_dir: Path = Path("./var/inbox")
    max_upload_bytes: int = Field(
        default=200 * 1024 * 1024, ge=1, description="The largest bank file `POST /v1/feeds` takes."
    )
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1,
        description="The largest request body of every other route, webhooks included.",
    )
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"
    reconcile_chunk_size: int = Field(default=5000, ge=1)
    write_batch_size: int = Field(default=5000, ge=1)
    ingest_part_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=1,
        description="A pipeline run routes a file in one part per this many bytes of it, the "
        "parts side by side.",
    )
    schedules_dir: Path | None = None
    review_overdue_days: int = Field(
        default=7, ge=1, description="Unmatched lines older than this are overdue for review."
    )
    max_deliveries: int = Field(
        default=3,
        ge=1,
        description="Deliveries of one message that die with their worker before it is "
        "dead-lettered (transient errors that are retried do not count).",
    )
    visibility_timeout: int = Field(
        default=900,
        ge=120,
        description="Seconds a Redis-brokered message stays unacknowledged before it goes back "
        "to its queue; above the longest task (tasks also stop 30 s before it).",
    )

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        keys = parse_key_ring(self.secrets_key.get_secret_value())  # ValueError names the key
        if self.environment == "production":
            if DEVELOPMENT_SECRETS_KEY in keys:
                raise ValueError(
                    "PAYRECON_SECRETS_KEY must be a key of your own in production "
                    "(`payrecon secrets new-key`), not the development key"
                )
            secret = self.api_token_secret.get_secret_value()
            if secret in _PLACEHOLDERS or len(secret) < 32:
                raise ValueError(
                    "PAYRECON_API_TOKEN_SECRET must be a real secret of 32+ bytes in production"
                )
            if self.broker_url.startswith("memory://"):
                raise ValueError("PAYRECON_BROKER_URL must name a real broker in production")
        if self.celery_result_backend.startswith("cache+memory") and not self.in_process_worker:
            raise ValueError(
                "PAYRECON_RESULT_BACKEND must be set with this broker: the pipeline's fan-out "
                "(chords) needs a shared result backend, e.g. redis://host:6379/1"
            )
        return self

    @property
    def secrets_keys(self) -> list[str]:
        """The key ring of `secrets_key`, the key that seals first."""
        return parse_key_ring(self.secrets_key.get_secret_value())

    @property
    def local_sandbox_allowed(self) -> bool:
        """Whether a provider's base URL may be the local sandbox (http://127.0.0.1, localhost)."""
        return self.environment in ("development", "test")

    @property
    def in_process_worker(self) -> bool:
        """The `memory://` broker means: run every task in this process (the embedded default)."""
        return self.broker_url.startswith("memory://")

    @property
    def celery_result_backend(self) -> str:
        if self.result_backend:
            return self.result_backend
        if self.broker_url.startswith(("redis://", "rediss://")):
            return self.broker_url
        return "cache+memory://"
