"""Tokens are checked when the settings load (issue 23): a malformed ``sha256:`` key in
``FOLLOWTHROUGH_TOKENS`` stops the process with a clear message instead of making every
authenticated request a 500 later."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from cli import main as cli
from config.settings import Settings

GOOD = "sha256:" + hashlib.sha256(b"a-long-random-token-for-the-phone-system").hexdigest()


@pytest.mark.parametrize(
    "key",
    [
        "sha256:not-hex-at-all",
        "sha256:" + "ab" * 31,  # 62 hex digits: one byte short
        "sha256:" + "ab" * 33,  # one byte too many
        "sha256:",
        "",
    ],
)
def test_a_malformed_token_key_is_refused_when_the_settings_load(key: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(tokens={key: {"role": "system"}, GOOD: {"role": "system"}})
    message = str(caught.value)
    assert "FOLLOWTHROUGH_TOKENS" in message
    assert "64 hex" in message or "empty" in message


def test_well_formed_keys_load(monkeypatch: pytest.MonkeyPatch) -> None:
    upper = "sha256:" + hashlib.sha256(b"x").hexdigest().upper()
    monkeypatch.setenv(
        "FOLLOWTHROUGH_TOKENS",
        json.dumps({GOOD: {"role": "system"}, upper: {"role": "ops"}, "plain": {"role": "ops"}}),
    )
    assert len(Settings().tokens) == 3


def test_the_api_does_not_start_with_a_malformed_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[Any] = []
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: served.append(kw))
    bad = "sha256:" + "zz" * 32
    env = {
        "FOLLOWTHROUGH_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "FOLLOWTHROUGH_TOKENS": json.dumps({bad: {"role": "system"}}),
    }
    result = CliRunner().invoke(cli.app, ["api"], env=env)
    assert result.exit_code != 0
    assert served == []
    assert "FOLLOWTHROUGH_TOKENS" in result.output and "64 hex" in result.output
    assert bad not in result.output  # a key is never echoed back
