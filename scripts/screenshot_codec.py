"""Screenshots of the Temporal UI showing encrypted payloads, then decoding them through our codec.

    .venv/bin/python scripts/screenshot_codec.py   # writes docs/temporal-ui-codec-*.png

This machine has no Docker engine, so this is not the compose stack with Dex. It is the closest
thing that runs here: a Temporal dev server whose UI is given the API's codec endpoint
(``--ui-codec-endpoint``, what ``TEMPORAL_CODEC_ENDPOINT`` does in compose), and ``followthrough
dev`` on that server (``screenshot_ui._dev``) with a fresh ``FOLLOWTHROUGH_CODEC_KEY`` (the worker
and the API encrypt every payload) and the UI's origin in ``FOLLOWTHROUGH_UI_ORIGINS``. It gives a
member a phone number, creates one case for them through the HTTP API, flags it ``safety`` and logs
an attempt, both with notes, then opens the case's workflow in headless Chromium (Playwright) twice:

- ``temporal-ui-codec-encrypted.png``: the UI calls ``/codec/decode`` without a token, the API
  answers 401, and the UI shows the payloads as the server stores them (``binary/encrypted``).
- ``temporal-ui-codec-decoded.png``: the page's ``fetch`` adds ``Authorization: Bearer dev-ops`` to
  the UI's codec calls, standing in for what the UI does itself with
  ``TEMPORAL_CODEC_PASS_ACCESS_TOKEN`` and an operator signed in through OIDC (it also sends the ID
  token as ``Authorization-Extras``: a placeholder goes with it here). The API decrypts for the ops
  token and the UI shows the decoded input. The header is added in the page, not with Playwright's
  ``page.route``, on purpose: Playwright answers the CORS preflight of a routed request itself,
  and that preflight is part of what has to work.

It fails unless every codec answer is 401 in the first run and 200 in the second, each page shows
what it should (ciphertext; the decoded ``InteractionInput``), and none of the member's data (the
phone number, the notes) appears on either page or in any workflow history, read decoded through
the same endpoint by the CLI (``temporal workflow show --codec-endpoint``).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import json
import os
import re
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Response, sync_playwright
from screenshot_ui import BIN, HEIGHT, ROOT, TEAM, WIDTH, Api, _dev, _run_id, parse_args, running

OPS_TOKEN = "dev-ops"
EXTERNAL_ID = "call-1001"
MEMBER = "mem-1001"
# Member data written through the API: none of it may reach Temporal.
PHONE = "+13125550188"
FLAG_NOTE = "Member says her landlord threatened her; gate code 4471"
ATTEMPT_NOTE = "Left a voicemail; her sister Rosa picks up after 6"
MEMBER_DATA = [PHONE, PHONE.removeprefix("+1"), "gate code 4471", "landlord", "Rosa"]
# What the UI shows when a payload cannot be decoded: its data, i.e. the ciphertext in base64.
CIPHERTEXT_INPUT = re.compile(r'\nInput\n"[A-Za-z0-9+/]{200,}={0,2}"')
NO_CODEC = "Codec Server could not connect"
# A decoded history has no payload left in its encrypted form.
ENCRYPTED = [base64.b64encode(b"binary/encrypted").decode().rstrip("="), "binary/encrypted"]

# Adds the operator's token to the UI's codec calls, as the UI does when it passes the signed-in
# user's tokens; the browser then sends a real CORS preflight for these headers.
PASS_TOKEN = """
(() => {
  const token = %s;
  const fetch = window.fetch.bind(window);
  window.fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input), location.href);
    if (url.pathname.endsWith('/codec/decode') || url.pathname.endsWith('/codec/encode')) {
      const headers = new Headers((init && init.headers) || (input instanceof Request ? input.headers : {}));
      headers.set('Authorization', 'Bearer ' + token);
      headers.set('Authorization-Extras', 'placeholder-for-the-oidc-id-token');
      init = { ...(init || {}), headers };
    }
    return fetch(input, init);
  };
})();
"""


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], port=8011, temporal_port=7241, ui_port=8241)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    ui = f"http://127.0.0.1:{args.ui_port}"
    codec = f"http://127.0.0.1:{args.port}/codec"
    settings = {
        "FOLLOWTHROUGH_CODEC_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "FOLLOWTHROUGH_UI_ORIGINS": ui,
    }
    with (
        tempfile.TemporaryDirectory(prefix="ft-codec-") as tmp,
        _temporal(Path(tmp), args, codec),
        _dev(Path(tmp), args, settings) as api,
    ):
        workflow_id = _case(api)
        run_id = _run_id(args.temporal_port, workflow_id)
        histories = _decoded_histories(args.temporal_port, codec)
        _check("the decoded workflow histories", histories, present=['"interaction_id"'], absent=ENCRYPTED)
        url = f"{ui}/namespaces/default/workflows/{urllib.parse.quote(workflow_id, safe='')}/{run_id}/history"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium)
            try:
                _capture(
                    browser,
                    url,
                    token=None,
                    status=401,
                    present=[NO_CODEC],
                    pattern=CIPHERTEXT_INPUT,
                    absent=["interaction_id", EXTERNAL_ID.join('""')],
                    path=args.out / "temporal-ui-codec-encrypted.png",
                )
                _capture(
                    browser,
                    url,
                    token=OPS_TOKEN,
                    status=200,
                    present=['"interaction_id"', EXTERNAL_ID.join('""')],
                    absent=[NO_CODEC],
                    path=args.out / "temporal-ui-codec-decoded.png",
                )
            finally:
                browser.close()
    print(f"done in {time.monotonic() - started:.0f} s")


def _case(api: Api) -> str:
    """One case of a member with a phone number, flagged and attempted with notes; its workflow id."""
    member = {"owner_id": "chw-ana", "phone": PHONE}
    api.send("PUT", f"/v1/teams/{TEAM}/members/{MEMBER}", "dev-system", member)
    row = api.post(
        "/v1/interactions",
        "dev-system",
        {
            "team_id": TEAM,
            "external_id": EXTERNAL_ID,
            "member_id": MEMBER,
            "channel": "call",
            "received_at": (datetime.now(UTC) - timedelta(minutes=20)).isoformat(),
        },
    )
    api.post(f"/v1/interactions/{row['id']}/flags", "dev-chw-ana", {"flag": "safety", "note": FLAG_NOTE})
    api.post(
        f"/v1/interactions/{row['id']}/attempts",
        "dev-chw-ana",
        {"outcome": "left_voicemail", "note": ATTEMPT_NOTE},
    )
    return f"interaction:{TEAM}:{EXTERNAL_ID}"


def _capture(
    browser: Browser,
    url: str,
    *,
    token: str | None,
    status: int,
    present: list[str],
    absent: list[str],
    path: Path,
    pattern: re.Pattern[str] | None = None,
    within: float = 60,
) -> None:
    """Open ``url`` in a fresh browser context; check the codec answers and the page; save a PNG."""
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    try:
        page = context.new_page()
        answers: list[int] = []

        def on_response(response: Response) -> None:
            if "/codec/" in response.url:
                answers.append(response.status)

        page.on("response", on_response)
        if token is not None:
            page.add_init_script(PASS_TOKEN % json.dumps(token))
        page.goto(url)
        deadline = time.monotonic() + within
        while True:
            text = page.inner_text("body")
            if answers and all(n in text for n in present) and (not pattern or pattern.search(text)):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{path.name}: codec answers {answers}; the page never showed {present}; "
                    f"it shows:\n{text[:2000]}"
                )
            page.wait_for_timeout(500)
        page.wait_for_timeout(1500)  # let the page settle (other payloads, fonts)
        text = page.inner_text("body")
        if set(answers) != {status}:
            raise RuntimeError(f"{path.name}: the codec answered {answers}, expected only {status}")
        if pattern and not pattern.search(text):
            raise RuntimeError(f"{path.name}: nothing matches {pattern.pattern}; it reads:\n{text[:3000]}")
        _check(path.name, text, present=present, absent=absent)
        path.write_bytes(page.screenshot(clip={"x": 0, "y": 0, "width": WIDTH, "height": HEIGHT}))
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        print(f"wrote {shown} (codec answered {len(answers)} x {status})")
    finally:
        context.close()


def _check(what: str, text: str, *, present: list[str], absent: list[str]) -> None:
    missing = [n for n in present if n not in text]
    found = [n for n in [*absent, *MEMBER_DATA] if n in text]
    if missing or found:
        raise RuntimeError(f"{what}: missing {missing}, must not show {found}; it reads:\n{text[:3000]}")


def _decoded_histories(temporal_port: int, codec: str) -> str:
    """Every workflow's history, decoded through the codec endpoint with the ops token (CLI)."""
    address = ["--address", f"127.0.0.1:{temporal_port}"]
    listed = _temporal_cli(["workflow", "list", *address, "-o", "jsonl"])
    texts: list[str] = []
    for line in listed.splitlines():
        execution = json.loads(line)["execution"]
        shown = _temporal_cli(
            [
                "workflow",
                "show",
                *address,
                "-w",
                execution["workflowId"],
                "-r",
                execution["runId"],
                "--codec-endpoint",
                codec,
                "--codec-auth",
                f"Bearer {OPS_TOKEN}",
                "-o",
                "json",
            ]
        )
        texts.extend(_strings(json.loads(shown)))
    if not texts:
        raise RuntimeError("no workflow histories were listed")
    print(f"read {len(listed.splitlines())} workflow histories decoded through {codec}")
    return "\n".join(texts)


def _strings(node: Any) -> Iterator[str]:
    """Every string in a JSON document, and what it decodes to where it is base64 (payload data)."""
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, str):
        yield node
        with contextlib.suppress(binascii.Error, ValueError):
            yield base64.b64decode(node, validate=True).decode("utf-8", errors="replace")


def _temporal_cli(argv: list[str]) -> str:
    return subprocess.run([str(BIN / "temporal"), *argv], check=True, capture_output=True, text=True).stdout


@contextlib.contextmanager
def _temporal(tmp: Path, args: argparse.Namespace, codec: str) -> Iterator[None]:
    """A Temporal dev server whose UI calls ``codec`` to decode payloads, stopped on exit."""
    cmd = [
        str(BIN / "temporal"),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(args.temporal_port),
        "--ui-port",
        str(args.ui_port),
        "--db-filename",
        str(tmp / "temporal.db"),
        "--log-level",
        "warn",
        "--ui-disable-news-fetch",
        "--ui-codec-endpoint",
        codec,
    ]
    with running(
        cmd,
        tmp / "temporal.log",
        (args.temporal_port, args.ui_port),
        name="the Temporal dev server",
        within=60,
    ):
        yield


if __name__ == "__main__":
    main()
