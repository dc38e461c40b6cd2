"""Screenshots of the Temporal UI as ops see it: the team's interactions by search attribute.

    .venv/bin/python scripts/screenshot_ui.py            # writes docs/temporal-ui-*.png

Starts ``followthrough dev`` on spare ports in a throwaway directory (its own SQLite file and
Temporal dev server, so nothing of a running ``make run`` is touched), creates a handful of demo
interactions through the HTTP API in different states, then drives headless Chromium (Debian
``chromium``: ``apt-get install -y chromium``) over the DevTools protocol on a pipe, with only
the standard library: it sets the UI's workflow-table columns to the Ft* search attributes (the
same thing "Configure columns" stores in the browser), waits until the list shows every
interaction, and captures the list and one interaction's timeline, user metadata (summary and
details) and search attributes.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TEAM = "eastside"
# The workflow list columns (UI "Configure columns"); Ft* are the custom search attributes.
COLUMNS = ["Status", "Workflow ID", "FtStatus", "FtAssignee", "FtTriggers", "FtChannel", "FtDueAt"]
WIDTH, HEIGHT = 1680, 1000


def parse_args(description: str, *, port: int, temporal_port: int, ui_port: int) -> argparse.Namespace:
    """The screenshot scripts' options (ports, output folder, browser); exits if a port is taken."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=port, help="API port")
    parser.add_argument("--temporal-port", type=int, default=temporal_port)
    parser.add_argument("--ui-port", type=int, default=ui_port)
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args()
    for taken in (args.port, args.temporal_port, args.ui_port):
        if _port_open(taken):
            sys.exit(f"port {taken} is taken: pick spare ones (--port/--temporal-port/--ui-port)")
    return args


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], port=8010, temporal_port=7240, ui_port=8240)
    with tempfile.TemporaryDirectory(prefix="ft-ui-") as tmp, _dev(Path(tmp), args) as api:
        detail_of = _demo(api)
        ui = f"http://127.0.0.1:{args.ui_port}"
        # The team's cases only (its escalations carry FtTeam too).
        query = urllib.parse.quote(f'WorkflowType="InteractionWorkflow" AND FtTeam="{TEAM}"')
        run_id = _run_id(args.temporal_port, detail_of)
        detail = f"{ui}/namespaces/default/workflows/{urllib.parse.quote(detail_of, safe='')}/{run_id}"
        with Browser(args.chromium) as browser:
            browser.go(ui)
            browser.eval(
                "localStorage.setItem('namespace-workflow-table-columns', "
                f"JSON.stringify({{default: {json.dumps([_col(c) for c in COLUMNS])}}}))"
            )
            # Visibility is eventually consistent: wait until every demo interaction is listed.
            browser.go(f"{ui}/namespaces/default/workflows?query={query}")
            browser.wait_for_text([f"{len(DEMO)} Workflows", *(f"interaction:{TEAM}:{d[0]}" for d in DEMO)])
            _save(browser, args.out / "temporal-ui-interactions.png", height=620)

            browser.go(f"{detail}/timeline")
            # The projection is a local activity (a marker in the UI): look for the notice activity.
            browser.wait_for_text(["notify assigned", "safety escalation of", "America/Chicago"])
            browser.eval(
                "[...document.querySelectorAll('h2')].find(e => e.textContent.trim() === 'Timeline')"
                ".scrollIntoView()"
            )
            _save(browser, args.out / "temporal-ui-timeline.png")

            browser.go(f"{detail}/user-metadata")
            # Summary and details render as markdown in sandboxed frames: give them a moment.
            browser.wait_for_text(["Summary", "Details", "Current Details"])
            _save(browser, args.out / "temporal-ui-user-metadata.png", height=660, settle=4)

            browser.go(f"{detail}/search-attributes")
            browser.wait_for_text(['"FtStatus"', '"escalated"', '"safety"'])
            _save(browser, args.out / "temporal-ui-search-attributes.png", height=690)


def _col(label: str) -> dict[str, Any]:
    return {"label": label, "pinned": label in ("Status", "Workflow ID")}


def _save(browser: Browser, path: Path, *, height: int = HEIGHT, settle: float = 1.5) -> None:
    time.sleep(settle)  # let the page settle (fonts, charts)
    path.write_bytes(browser.screenshot(height=height))
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


# ---------------------------------------------------------------------- demo data over the API

# (external id, member, channel, received minutes ago, what happens next)
DEMO: list[tuple[str, str, str, int, str]] = [
    ("call-1001", "mem-1001", "call", 20, "flag safety"),
    ("vm-1002", "mem-1002", "voicemail", 45, "attempt no_answer"),
    ("text-1003", "mem-1003", "text", 30, "lead assigns chw-ana"),
    ("call-1004", "mem-1004", "call", 10, "nothing (unassigned queue)"),
    ("text-1005", "mem-1003", "text", 90, "attempt replied, resolve"),
    ("call-1006", "mem-1002", "call", 3 * 24 * 60, "nothing (backfill: deadline missed)"),
]


def _demo(api: Api) -> str:
    """Create the demo interactions; returns the workflow id whose detail page to capture."""
    now = datetime.now(UTC)
    ids: dict[str, str] = {}
    for ext, member, channel, ago, _ in DEMO:
        row = api.post(
            "/v1/interactions",
            "dev-system",
            {
                "team_id": TEAM,
                "external_id": ext,
                "member_id": member,
                "channel": channel,
                "received_at": (now - timedelta(minutes=ago)).isoformat(),
            },
        )
        ids[ext] = row["id"]
    api.post(f"/v1/interactions/{ids['call-1001']}/flags", "dev-chw-ana", {"flag": "safety"})
    api.post(f"/v1/interactions/{ids['vm-1002']}/attempts", "dev-chw-ana", {"outcome": "no_answer"})
    api.post(
        f"/v1/interactions/{ids['text-1003']}/assign",
        "dev-lead",
        {"assignee_id": "chw-ana", "reason": "Ben is on a home visit"},
    )
    api.post(f"/v1/interactions/{ids['text-1005']}/attempts", "dev-chw-ben", {"outcome": "replied"})
    api.post(f"/v1/interactions/{ids['text-1005']}/resolve", "dev-chw-ben", {"resolution": "answered"})
    return f"interaction:{TEAM}:call-1001"


class Api:
    def __init__(self, base: str) -> None:
        self.base = base

    def post(self, path: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.send("POST", path, token, body)

    def send(self, method: str, path: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
        req = urllib.request.Request(
            self.base + path,
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method=method,
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            result: dict[str, Any] = json.load(resp)
            return result


@contextlib.contextmanager
def _dev(tmp: Path, args: argparse.Namespace, settings: dict[str, str] | None = None) -> Iterator[Api]:
    """``followthrough dev`` in ``tmp`` (SQLite file and .temporal/ there), stopped on exit.

    ``settings`` adds ``FOLLOWTHROUGH_*`` variables. When a Temporal server already listens on
    ``--temporal-port``, ``followthrough dev`` uses it instead of starting its own.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWTHROUGH_")} | {
        "FOLLOWTHROUGH_DATABASE_URL": f"sqlite:///{tmp / 'followthrough.db'}",
        "FOLLOWTHROUGH_TEMPORAL_ADDRESS": f"127.0.0.1:{args.temporal_port}",
        "FOLLOWTHROUGH_WORKER_METRICS_ADDRESS": "",
    }
    env |= settings or {}
    cmd = [
        str(BIN / "followthrough"),
        "dev",
        "--port",
        str(args.port),
        "--temporal-port",
        str(args.temporal_port),
        "--ui-port",
        str(args.ui_port),
    ]
    # On SIGINT dev stops the worker, the API and its Temporal server.
    with running(
        cmd,
        tmp / "dev.log",
        (args.port, args.ui_port),
        name="followthrough dev",
        within=90,
        stop=signal.SIGINT,
        stop_within=30,
        cwd=tmp,
        env=env,
    ):
        yield Api(f"http://127.0.0.1:{args.port}")


@contextlib.contextmanager
def running(
    cmd: list[str],
    log_path: Path,
    ports: tuple[int, ...],
    *,
    name: str,
    within: float,
    stop: signal.Signals = signal.SIGTERM,
    stop_within: float = 15,
    **popen: Any,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``cmd`` (output to ``log_path``) until every port in ``ports`` answers; stop it on exit
    with ``stop``, killing it after ``stop_within`` seconds. Exits with the log if it does not start."""
    log = open(log_path, "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, **popen)
    try:
        deadline = time.monotonic() + within
        while not all(_port_open(port) for port in ports):
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"{name} did not start:\n{log_path.read_text()}")
            time.sleep(0.3)
        yield proc
    finally:
        proc.send_signal(stop)
        try:
            proc.wait(timeout=stop_within)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _run_id(temporal_port: int, workflow_id: str) -> str:
    out = subprocess.run(
        [
            str(BIN / "temporal"),
            "workflow",
            "describe",
            "--address",
            f"127.0.0.1:{temporal_port}",
            "-w",
            workflow_id,
            "-o",
            "json",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    run_id: str = json.loads(out)["workflowExecutionInfo"]["execution"]["runId"]
    return run_id


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


# ---------------------------------------------------------------------- headless Chromium over a pipe


class Browser:
    """Just enough of the Chrome DevTools protocol (``--remote-debugging-pipe``: fd 3 in, fd 4 out)."""

    def __init__(self, chromium: str) -> None:
        self._to_chrome_r, self._to_chrome_w = os.pipe()
        self._from_chrome_r, self._from_chrome_w = os.pipe()
        self._profile = tempfile.TemporaryDirectory(prefix="ft-chromium-")
        flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--hide-scrollbars",
            f"--user-data-dir={self._profile.name}",
            f"--window-size={WIDTH},{HEIGHT}",
            "--remote-debugging-pipe",
        ]
        # Chromium reads commands on fd 3 and answers on fd 4.
        shell = f'exec "$0" "$@" 3<&{self._to_chrome_r} 4>&{self._from_chrome_w}'
        self._proc = subprocess.Popen(
            ["sh", "-c", shell, chromium, *flags],
            pass_fds=(self._to_chrome_r, self._from_chrome_w),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(self._to_chrome_r)
        os.close(self._from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        self.call("Page.enable")
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
        )

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *_: object) -> None:
        with contextlib.suppress(OSError, RuntimeError):
            self._call("Browser.close")
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        os.close(self._to_chrome_w)
        os.close(self._from_chrome_r)
        self._profile.cleanup()

    def go(self, url: str) -> None:
        self._events.clear()
        self.call("Page.navigate", {"url": url})
        self._wait_event("Page.loadEventFired", within=30)

    def eval(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return result.get("result", {}).get("value")

    def wait_for_text(self, needles: list[str], *, within: float = 60) -> None:
        """Poll the page's text (the UI renders after its API calls) until every needle shows."""
        deadline = time.monotonic() + within
        while True:
            text = self.eval("document.body ? document.body.textContent : ''") or ""
            missing = [n for n in needles if n not in text]
            if not missing:
                return
            if time.monotonic() > deadline:
                shown = self.eval("document.body ? document.body.innerText : ''") or ""
                raise RuntimeError(f"the page never showed {missing}; it shows:\n{shown[:1000]}")
            time.sleep(0.5)
            if "No Workflows" in text or "0 Workflows" in text:
                self.go(self.eval("location.href"))  # listed before visibility caught up: reload

    def screenshot(self, *, height: int = HEIGHT) -> bytes:
        clip = {"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1}
        data = self.call("Page.captureScreenshot", {"format": "png", "clip": clip})["data"]
        return base64.b64decode(data)

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._call(method, params, session=self._session)

    def _call(
        self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None
    ) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._to_chrome_w, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self._events.append(reply)

    def _wait_event(self, method: str, *, within: float) -> None:
        deadline = time.monotonic() + within
        while not any(e["method"] == method for e in self._events):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no {method} within {within}s")
            reply = self._read(timeout=max(deadline - time.monotonic(), 0.1))
            if "method" in reply:
                self._events.append(reply)

    def _read(self, timeout: float = 60) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            if not select.select([self._from_chrome_r], [], [], timeout)[0]:
                raise RuntimeError(f"chromium said nothing for {timeout:.0f}s")
            chunk = os.read(self._from_chrome_r, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        parsed: dict[str, Any] = json.loads(message)
        return parsed


if __name__ == "__main__":
    main()
