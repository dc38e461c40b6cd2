"""Settings from the environment (prefix ``FOLLOWTHROUGH_``)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

TokenRole = Literal["system", "chw", "lead", "manager", "ops"]


class TokenGrant(BaseModel):
    """What a bearer token stands for: a role and, for staff, who they are."""

    role: TokenRole
    staff_id: str | None = None


class Settings(BaseSettings):
    """One settings object for API, worker and CLI."""

    model_config = SettingsConfigDict(env_prefix="FOLLOWTHROUGH_", extra="ignore")

    database_url: str = "sqlite:///./followthrough.db"
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = "followthrough"
    tokens: dict[str, TokenGrant] = Field(default_factory=dict)
    codec_key: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    log_format: Literal["console", "json"] = "console"
    log_level: str = "INFO"
    # Where a delivery channel other than ``log`` is wanted: ``log`` or ``webhook``.
    notification_channel: Literal["log", "webhook"] | None = None
    # Origins of the Temporal UI allowed to call the codec endpoint from the browser (CORS):
    # comma-separated or a JSON list. Defaults: the dev server's UI and a docker-compose UI.
    ui_origins: Annotated[list[str], NoDecode] = ["http://localhost:8233", "http://localhost:8080"]
    # Where the worker serves the Temporal SDK's Prometheus metrics (``/metrics``); empty = off.
    worker_metrics_address: str | None = "127.0.0.1:9464"
    # The request path. Database work runs in at most ``db_pool_size + db_max_overflow`` threads,
    # so a burst waits for a thread instead of a connection; a connection that cannot be had
    # within ``db_pool_timeout_seconds`` (or a server that does not answer a connect within
    # ``db_connect_timeout_seconds``) is a 503.
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    db_connect_timeout_seconds: int = Field(default=5, ge=1, le=60)
    # Deadlines on Temporal calls from a request: starting a workflow or reading (rpc), and an
    # action (a workflow update) waiting for the worker to apply it. Past them the answer is a
    # 503 with Retry-After; an action may still be applied later, exactly once per Idempotency-Key.
    temporal_rpc_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    temporal_update_timeout_seconds: float = Field(default=7.0, gt=0, le=120)
    # No request runs longer than this: past it the answer is 503 with Retry-After (an action may
    # still be applied; its repeat with the same Idempotency-Key answers it). Keep it above the
    # Temporal deadlines so they answer first with their own message.
    request_deadline_seconds: float = Field(default=8.5, gt=0, le=300)
    # Admission: at most this many requests are worked on at once; one that waits longer than
    # ``admission_wait_seconds`` for its turn answers 503 with Retry-After at once (cheap), so an
    # overloaded API sheds load instead of slowing every answer down.
    max_concurrent_requests: int = Field(default=16, ge=1, le=10_000)
    admission_wait_seconds: float = Field(default=0.5, ge=0, le=60)
    # How long a worker lets running activities finish after SIGTERM/SIGINT before it stops.
    worker_shutdown_grace_seconds: float = Field(default=20.0, ge=0, le=600)

    @field_validator("codec_key", "webhook_url", "webhook_secret", "worker_metrics_address", mode="before")
    @classmethod
    def _empty_is_none(cls, v: object) -> object:
        return None if v == "" else v

    @field_validator("ui_origins", mode="before")
    @classmethod
    def _origins_list(cls, v: object) -> object:
        if isinstance(v, str):
            text = v.strip()
            if text.startswith("["):
                return json.loads(text)
            return [o.strip().rstrip("/") for o in text.split(",") if o.strip()]
        return v

    @property
    def channel(self) -> Literal["log", "webhook"]:
        """The delivery channel: webhook when a URL is configured, else log."""
        if self.notification_channel is not None:
            return self.notification_channel
        return "webhook" if self.webhook_url else "log"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
