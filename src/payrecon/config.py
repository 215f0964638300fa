"""One settings object, read from the environment (prefix PAYRECON_) and validated at start-up.

Nothing below `bootstrap.py` reads `os.environ`; everything else receives a `Settings`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET = "dev-only-not-a-secret-replace-in-production"  # noqa: S105 - refused outside development
_PLACEHOLDERS = {DEVELOPMENT_SECRET, "changeme", "change-me", "secret", ""}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYRECON_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///./payrecon.db"
    broker_url: str = "memory://"
    result_backend: str | None = Field(
        default=None, description="Celery result backend; derived from the broker when unset."
    )
    api_token_secret: SecretStr = SecretStr(DEVELOPMENT_SECRET)
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
    schedules_dir: Path | None = None
    review_overdue_days: int = Field(
        default=7, ge=1, description="Unmatched lines older than this are overdue for review."
    )
    max_deliveries: int = Field(
        default=3, ge=1, description="Runs of one message before it is dead-lettered."
    )

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.environment == "production":
            secret = self.api_token_secret.get_secret_value()
            if secret in _PLACEHOLDERS or len(secret) < 32:
                raise ValueError(
                    "PAYRECON_API_TOKEN_SECRET must be a real secret of 32+ bytes in production"
                )
            if self.broker_url.startswith("memory://"):
                raise ValueError("PAYRECON_BROKER_URL must name a real broker in production")
        return self

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
