"""Outside `followthrough dev`, the published development defaults are refused at startup."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import main as cli
from config.production import DEMO_CODEC_KEYS

DEMO_CODEC_KEY = next(iter(DEMO_CODEC_KEYS))
OWN_KEY = "q6b1d2ZkR3l0aGhvNzZ4c2JkZ2VnZ2Z6c2RmZ2hqa2w="  # 32 bytes, not published anywhere else


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record instead of serving: the command got past its startup checks."""
    calls: list[dict[str, Any]] = []
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append(kw))
    return calls


def run(args: list[str], env: dict[str, str], tmp_path: Path) -> Any:
    base = {"FOLLOWTHROUGH_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    return CliRunner().invoke(cli.app, args, env={**base, **env})


@pytest.mark.parametrize(
    "tokens",
    [
        {"dev-system": {"role": "system"}},
        {
            "my-own-token-abcdefghijkl": {"role": "system"},
            "dev-chw-ana": {"role": "chw", "staff_id": "chw-ana"},
        },
        # The demo token given by its hash is still the demo token.
        {"sha256:" + hashlib.sha256(b"dev-lead").hexdigest(): {"role": "lead", "staff_id": "lead-lee"}},
    ],
)
def test_api_refuses_the_demo_tokens(tokens: dict[str, Any], tmp_path: Path, served: list[Any]) -> None:
    result = run(["api"], {"FOLLOWTHROUGH_TOKENS": json.dumps(tokens)}, tmp_path)
    assert result.exit_code == 1
    assert "demo team's published tokens" in result.output
    assert "followthrough token create" in result.output
    assert served == []


@pytest.mark.parametrize("command", [["api"], ["worker"]])
def test_api_and_worker_refuse_the_demo_codec_key(
    command: list[str], tmp_path: Path, served: list[Any]
) -> None:
    result = run(command, {"FOLLOWTHROUGH_CODEC_KEY": DEMO_CODEC_KEY}, tmp_path)
    assert result.exit_code == 1
    assert "published demo key" in result.output
    assert served == []


def test_api_starts_with_its_own_secrets(tmp_path: Path, served: list[Any]) -> None:
    env = {
        "FOLLOWTHROUGH_TOKENS": json.dumps({"a-real-secret-token-0123456789": {"role": "system"}}),
        "FOLLOWTHROUGH_CODEC_KEY": OWN_KEY,
    }
    result = run(["api"], env, tmp_path)
    assert result.exit_code == 0, result.output
    assert len(served) == 1


def test_a_bad_grant_is_refused_without_printing_the_token(tmp_path: Path, served: list[Any]) -> None:
    secret = "the-phone-systems-secret-token-xyz"
    result = run(["api"], {"FOLLOWTHROUGH_TOKENS": json.dumps({secret: {"role": "boss"}})}, tmp_path)
    assert result.exit_code == 1
    assert "settings rejected" in result.output and "FOLLOWTHROUGH_TOKENS" in result.output
    assert secret not in result.output
    assert served == []


def test_a_webhook_url_without_a_secret_is_refused(tmp_path: Path) -> None:
    result = run(["worker"], {"FOLLOWTHROUGH_WEBHOOK_URL": "https://hooks.example.org/ft"}, tmp_path)
    assert result.exit_code == 1
    assert "FOLLOWTHROUGH_WEBHOOK_SECRET" in result.output
    secret = "not-a-whsec-secret"
    bad = run(
        ["worker"],
        {"FOLLOWTHROUGH_WEBHOOK_URL": "https://hooks.example.org/ft", "FOLLOWTHROUGH_WEBHOOK_SECRET": secret},
        tmp_path,
    )
    assert bad.exit_code == 1 and "whsec_" in bad.output
    assert secret not in bad.output
