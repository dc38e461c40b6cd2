"""What a production process refuses to start with: the published development defaults.

The demo team's tokens (``config/demo_team.yaml``) and the compose file's old demo codec key are
public: anybody who reads this repository could use them. ``followthrough dev`` runs with them on
purpose; ``followthrough api`` and ``followthrough worker`` refuse them at startup, with a message
that says what to do instead.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from config.settings import Settings

DEMO_TEAM_FILE = Path(__file__).with_name("demo_team.yaml")
# The codec key that docker-compose.yml used to default to (base64 of a readable phrase).
DEMO_CODEC_KEYS = frozenset({"Zm9sbG93dGhyb3VnaC1kZXYtb25seS1jb2RlYy1rZXk="})
SHA256_PREFIX = "sha256:"


def token_digest(token: str) -> str:
    """The hex SHA-256 of a token: how a token may be configured without writing it down."""
    return hashlib.sha256(token.encode()).hexdigest()


def configured_digest(key: str) -> str:
    """The digest a ``FOLLOWTHROUGH_TOKENS`` key stands for: ``sha256:<hex>`` is a token given by
    its hash; anything else is the token itself."""
    if key.startswith(SHA256_PREFIX):
        return key.removeprefix(SHA256_PREFIX).lower()
    return token_digest(key)


def demo_tokens() -> set[str]:
    data = yaml.safe_load(DEMO_TEAM_FILE.read_text())
    return set((data or {}).get("tokens") or {})


def dev_default_problems(settings: Settings) -> list[str]:
    """Why these settings must not run outside ``followthrough dev`` (empty: they may)."""
    problems = []
    published = {token_digest(t) for t in demo_tokens()}
    if any(configured_digest(key) in published for key in settings.tokens):
        problems.append(
            "FOLLOWTHROUGH_TOKENS contains the demo team's published tokens (dev-system, dev-lead, ...): "
            "anyone could use them. Make your own (`followthrough token create`, or random strings from "
            '`python -c "import secrets; print(secrets.token_urlsafe(32))"`) — see docs/deploy.md'
        )
    keys = {part.strip() for part in (settings.codec_key or "").split(",")}
    if keys & DEMO_CODEC_KEYS:
        problems.append(
            "FOLLOWTHROUGH_CODEC_KEY is the published demo key: payloads would be readable by anyone. "
            "Make one with: python -c "
            '"import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())"'
        )
    return problems
