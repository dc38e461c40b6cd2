"""Settings from the environment (prefix ``FOLLOWTHROUGH_``)."""

from __future__ import annotations

import base64
import binascii
import json
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

TokenRole = Literal["system", "chw", "lead", "manager", "ops"]
# A ``FOLLOWTHROUGH_TOKENS`` key given as the SHA-256 of the token (``config.production``).
SHA256_KEY_PREFIX = "sha256:"
# OIDC claims a person chooses or edits at many providers: never the claim that names staff.
UNCLAIMABLE_STAFF_CLAIMS = frozenset(
    {"preferred_username", "name", "nickname", "given_name", "family_name", "unique_name"}
)


class TokenGrant(BaseModel):
    """What a bearer token stands for: a role and, for staff, who they are."""

    role: TokenRole
    staff_id: str | None = None


WEBHOOK_SECRET_HINT = (
    "FOLLOWTHROUGH_WEBHOOK_SECRET is a Standard Webhooks secret: 'whsec_' followed by the base64 of "
    '24 to 64 random bytes; make one with: python -c "import base64, os; '
    "print('whsec_' + base64.b64encode(os.urandom(32)).decode())\""
)


def check_webhook_secret(value: str) -> None:
    """``whsec_<base64>`` with a non-empty key, or ``ValueError`` saying how to make one."""
    body = value.removeprefix("whsec_")
    if body == value:
        raise ValueError(f"the webhook secret must start with 'whsec_'. {WEBHOOK_SECRET_HINT}")
    try:
        key = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError) as err:
        raise ValueError(f"the webhook secret is not valid base64. {WEBHOOK_SECRET_HINT}") from err
    if not key:
        raise ValueError(f"the webhook secret is empty. {WEBHOOK_SECRET_HINT}")


class Settings(BaseSettings):
    """One settings object for API, worker and CLI."""

    model_config = SettingsConfigDict(env_prefix="FOLLOWTHROUGH_", extra="ignore")

    database_url: str = "sqlite:///./followthrough.db"
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = "followthrough"
    tokens: dict[str, TokenGrant] = Field(default_factory=dict)
    codec_key: str | None = None
    # With a codec key, payloads that are not encrypted are refused; true lets histories written
    # before encryption was switched on keep running (turn it off once they have aged out).
    codec_accept_plaintext: bool = False
    webhook_url: str | None = None
    webhook_secret: str | None = None
    log_format: Literal["console", "json"] = "console"
    log_level: str = "INFO"
    # Where a delivery channel other than ``log`` is wanted: ``log`` or ``webhook``.
    notification_channel: Literal["log", "webhook"] | None = None
    # Origins of the Temporal UI allowed to call the codec endpoint from the browser (CORS):
    # comma-separated or a JSON list. Defaults: the dev server's UI (`followthrough dev` binds and
    # prints it as 127.0.0.1; a browser may also reach it as localhost) and a docker-compose UI.
    ui_origins: Annotated[list[str], NoDecode] = [
        "http://127.0.0.1:8233",
        "http://localhost:8233",
        "http://localhost:8080",
    ]
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
    # Worker tuning (docs/deploy.md "Scaling out"): tasks run at once per worker process, and
    # how many workflows it keeps cached (sticky) between tasks.
    worker_max_concurrent_activities: int = Field(default=16, ge=1, le=10_000)
    worker_max_concurrent_workflow_tasks: int = Field(default=100, ge=1, le=10_000)
    worker_max_cached_workflows: int = Field(default=1000, ge=0, le=1_000_000)
    # The escalations' own cache (their task queue, served by the same worker process): at 17:00
    # the escalations the overdue cases start do not push the cases out of theirs.
    worker_max_cached_escalations: int = Field(default=200, ge=0, le=1_000_000)
    # Run workflows in the SDK's sandbox (the default), our deterministic modules passed through
    # (docs/adr/sandbox.md). Off trades its runtime determinism guard for what is left of its
    # price (bench.sandbox); the sandboxed tests and the replay tests keep guarding.
    worker_workflow_sandbox: bool = True

    # Temporal connection beyond a plain local server: TLS (server CA, or the system's roots),
    # mTLS (client certificate and key, as PEM files), an API key (Temporal Cloud), and the
    # server name to check in the certificate when it differs from the address.
    temporal_tls: bool = False
    temporal_tls_ca_file: str | None = None
    temporal_tls_cert_file: str | None = None
    temporal_tls_key_file: str | None = None
    temporal_tls_server_name: str | None = None
    temporal_api_key: str | None = None

    # People sign in with OpenID Connect (production): bearer JWTs signed by the issuer's keys
    # (JWKS from its discovery document, or ``oidc_jwks_url``), for ``oidc_audience``. The claim
    # ``oidc_staff_claim`` names the staff id (the staff record gives role and team); ops staff
    # without a staff record carry ``ops`` in ``oidc_role_claim``. ``oidc_client_id`` is the
    # console's client for "Sign in with SSO".
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_jwks_url: str | None = None
    oidc_client_id: str | None = None
    # ``sub`` (the default) or an attribute the IdP's admins set; ``email`` only counts with
    # ``email_verified``; ``preferred_username`` and display names are refused (anyone can pick them).
    oidc_staff_claim: str = "sub"
    oidc_role_claim: str = "followthrough_role"
    # Clients (``azp``) whose tokens the API takes besides ``oidc_audience`` and ``oidc_client_id``
    # (e.g. the Temporal UI's own client); a token whose issuer names another party is refused.
    oidc_authorized_parties: Annotated[list[str], NoDecode] = []
    # People who are ops by the value of their staff claim (for IdPs that cannot add a role claim).
    oidc_ops_ids: Annotated[list[str], NoDecode] = []

    # OpenTelemetry tracing across API -> workflow -> activity (off unless an OTLP endpoint is
    # set; needs the ``tracing`` extra).
    otel_exporter_otlp_endpoint: str | None = None
    # The API's /metrics without a token shows request figures only; per-team figures need an ops
    # or system token. Set this to also serve every figure, without a token, on an internal port
    # (e.g. ``0.0.0.0:9100``, reachable by Prometheus only).
    api_metrics_address: str | None = None
    # The web console (/console): the key that seals its session cookies (any long random
    # string; every API replica needs the same one). Unset: a random key per process, so a
    # restart signs everybody out. ``console_secure_cookie`` false only for plain-http development.
    console_session_key: str | None = None
    console_secure_cookie: bool = True
    # The longest a console sign-in lasts (a shift), whatever the cookie says; sign-out ends it.
    console_session_hours: float = Field(default=10.0, gt=0, le=24 * 30)
    # Request bodies larger than this are refused (413) by the codec endpoint.
    codec_max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    # ``followthrough reconcile`` (docs/architecture.md §3.15): the worker runs it this often (one
    # process at a time, under a lease; 0 = never: run the command from a scheduler instead), and
    # it places or purges member text an action stored before its update whose request then died,
    # once the text is this old (a repeat of the action within it stores the text again).
    reconcile_interval_seconds: int = Field(default=300, ge=0, le=7 * 24 * 3600)
    pending_text_ttl_seconds: int = Field(default=3600, ge=60, le=30 * 24 * 3600)
    # Phone-system webhooks (docs/channels.md): the Twilio account's auth token, which signs
    # every request Twilio sends (``X-Twilio-Signature``); and the address the API is reached at
    # from outside (``https://followthrough.example.org``, a path prefix included), from which the
    # URL Twilio signed is rebuilt behind a proxy. Either unset: every Twilio request is refused.
    twilio_auth_token: str | None = None
    public_url: str | None = None

    @field_validator(
        "codec_key",
        "webhook_url",
        "webhook_secret",
        "worker_metrics_address",
        "temporal_tls_ca_file",
        "temporal_tls_cert_file",
        "temporal_tls_key_file",
        "temporal_tls_server_name",
        "temporal_api_key",
        "oidc_issuer",
        "oidc_audience",
        "oidc_jwks_url",
        "oidc_client_id",
        "otel_exporter_otlp_endpoint",
        "api_metrics_address",
        "console_session_key",
        "twilio_auth_token",
        "public_url",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, v: object) -> object:
        return None if v == "" else v

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not v.startswith(("https://", "http://")) or "?" in v or "#" in v:
            raise ValueError(
                "FOLLOWTHROUGH_PUBLIC_URL is the address the API is reached at from outside, e.g. "
                "https://followthrough.example.org (a path prefix allowed; no query or fragment)"
            )
        return v.rstrip("/")

    @field_validator("webhook_secret")
    @classmethod
    def _whsec(cls, v: str | None) -> str | None:
        if v is not None:
            check_webhook_secret(v)
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.channel == "webhook" and not (self.webhook_url and self.webhook_secret):
            raise ValueError(
                "a webhook needs both FOLLOWTHROUGH_WEBHOOK_URL and FOLLOWTHROUGH_WEBHOOK_SECRET "
                f"(unsigned deliveries are refused). {WEBHOOK_SECRET_HINT}"
            )
        if bool(self.temporal_tls_cert_file) != bool(self.temporal_tls_key_file):
            raise ValueError("mTLS needs both FOLLOWTHROUGH_TEMPORAL_TLS_CERT_FILE and _KEY_FILE")
        if self.oidc_issuer and not self.oidc_audience:
            raise ValueError("OIDC needs FOLLOWTHROUGH_OIDC_AUDIENCE as well as FOLLOWTHROUGH_OIDC_ISSUER")
        return self

    @field_validator("oidc_staff_claim")
    @classmethod
    def _claimable(cls, v: str) -> str:
        if v in UNCLAIMABLE_STAFF_CLAIMS:
            raise ValueError(
                f"FOLLOWTHROUGH_OIDC_STAFF_CLAIM={v} names what a person may choose at the identity "
                "provider, so anyone could become a staff member: use 'sub' (the default), a claim "
                "your IdP's admins set, or 'email' (taken only when 'email_verified' is true)"
            )
        return v

    @field_validator("oidc_ops_ids", "oidc_authorized_parties", mode="before")
    @classmethod
    def _ids_list(cls, v: object) -> object:
        if isinstance(v, str):
            text = v.strip()
            return (
                json.loads(text)
                if text.startswith("[")
                else [i.strip() for i in text.split(",") if i.strip()]
            )
        return v

    @field_validator("ui_origins", mode="before")
    @classmethod
    def _origins_list(cls, v: object) -> object:
        if isinstance(v, str):
            text = v.strip()
            if text.startswith("["):
                return json.loads(text)
            return [o.strip().rstrip("/") for o in text.split(",") if o.strip()]
        return v

    # ---------------------------------------------------------------- limits and retention
    # (issue 23) Request bodies larger than this are refused with 413 on every route, before any
    # parsing or authentication (the codec endpoint has its own ``codec_max_body_bytes``).
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    # Stored answers of repeat-safe actions (``Idempotency-Key``), pending member text and ended
    # console sessions are purged by the worker once this old (``workers.retention``); a repeat
    # after it is no longer answered from the store.
    idempotency_retention_hours: float = Field(default=72.0, gt=0, le=24 * 366)

    @field_validator("tokens")
    @classmethod
    def _token_keys(cls, v: dict[str, TokenGrant]) -> dict[str, TokenGrant]:
        """Every key is a token or ``sha256:`` and the 64 hex digits of one (checked here, so a
        typo stops the process at startup instead of failing every request). Never echoes a key."""
        for key, grant in v.items():
            which = f"the key for role {grant.role!r}" + (
                f" (staff_id {grant.staff_id!r})" if grant.staff_id else ""
            )
            if not key.strip():
                raise ValueError(f"FOLLOWTHROUGH_TOKENS: {which} is empty")
            if key.startswith(SHA256_KEY_PREFIX):
                digest = key.removeprefix(SHA256_KEY_PREFIX)
                if len(digest) != 64 or any(c not in "0123456789abcdefABCDEF" for c in digest):
                    raise ValueError(
                        f"FOLLOWTHROUGH_TOKENS: {which} starts with 'sha256:' but is not followed by "
                        "exactly 64 hex digits (the token's SHA-256: python -c \"import hashlib, sys; "
                        'print(hashlib.sha256(sys.argv[1].encode()).hexdigest())" TOKEN)'
                    )
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
