"""The benchmarks run against the drills' stack: every token they send must be one it grants.

(After the demo tokens were refused outside ``followthrough dev``, P4, P5 and P6 sent
``dev-…`` tokens and measured 3,000 answers of 401 instead of creates.)
"""

from __future__ import annotations

import re
from pathlib import Path

from drills.common import TOKENS

ROOT = Path(__file__).resolve().parents[2]


def test_every_bearer_token_in_bench_and_drills_is_granted_by_the_drill_stack() -> None:
    sent = {
        (path.relative_to(ROOT).as_posix(), token)
        for folder in ("bench", "drills")
        for path in sorted((ROOT / folder).glob("*.py"))
        for token in re.findall(r"Bearer ([A-Za-z0-9_.-]+)", path.read_text())
    }
    assert sent, "no bearer token found: the pattern no longer matches the scripts"
    assert [(path, token) for path, token in sorted(sent) if token not in TOKENS] == []
