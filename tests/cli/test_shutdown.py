"""``followthrough worker`` stops cleanly on SIGTERM within its grace period, also when the
Temporal server is already gone (it used to wait forever)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import binary

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


@pytest.fixture
def temporal_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            binary("temporal"),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--headless",
            "--log-level",
            "error",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_port(port)
    yield proc, port
    proc.kill()
    proc.wait()


def _worker(tmp_path: Path, port: int) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "FOLLOWTHROUGH_DATABASE_URL": f"sqlite:///{tmp_path / 'ft.db'}",
        "FOLLOWTHROUGH_TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "FOLLOWTHROUGH_WORKER_METRICS_ADDRESS": "",
        "FOLLOWTHROUGH_WORKER_SHUTDOWN_GRACE_SECONDS": "2",
        "FOLLOWTHROUGH_LOG_FORMAT": "json",
    }
    subprocess.run([str(BIN / "followthrough"), "migrate"], env=env, check=True, capture_output=True)
    return _started(["worker"], env, ready="worker.started", within=30)


def _started(
    args: list[str], env: dict[str, str], *, ready: str, within: float, cwd: Path | None = None
) -> subprocess.Popen[str]:
    """``followthrough <args>``, once it has printed ``ready``. Its output is read on to the end:
    a process whose Temporal is gone logs its reconnection attempts, and a full pipe would block
    it in a write (not what a real deployment does)."""
    proc = subprocess.Popen(
        [str(BIN / "followthrough"), *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + within
    for line in proc.stdout:
        if ready in line:
            reader = threading.Thread(target=_keep, args=(proc,), daemon=True)
            reader.start()
            READERS[proc.pid] = reader
            return proc
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise AssertionError(f"followthrough {args[0]} did not start")


OUTPUT: dict[int, list[str]] = {}
READERS: dict[int, threading.Thread] = {}
GRACE = 2  # FOLLOWTHROUGH_WORKER_SHUTDOWN_GRACE_SECONDS in every test here


def _keep(proc: subprocess.Popen[str]) -> None:
    """Read the worker's output to the end, keeping it for the failure message."""
    assert proc.stdout is not None
    lines = OUTPUT.setdefault(proc.pid, [])
    for line in proc.stdout:
        lines.append(line)


def _output(proc: subprocess.Popen[str]) -> str:
    """Everything the stopped process printed: its reader is joined (it ends at end of file, once
    the process and every child that shared its output have closed it)."""
    reader = READERS[proc.pid]
    reader.join(timeout=10)
    assert not reader.is_alive(), "the process's output is still open (a child still holds it?)"
    return "".join(OUTPUT.get(proc.pid, []))


def _stopped_within(proc: subprocess.Popen[str], seconds: float) -> float:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        stacks = (
            subprocess.run(
                [str(BIN / "py-spy"), "dump", "--pid", str(proc.pid)],
                capture_output=True,
                text=True,
                check=False,
            )
            if (BIN / "py-spy").exists()
            else None
        )
        proc.kill()
        tail = "".join(OUTPUT.get(proc.pid, [])[-15:])
        where = stacks.stdout[-4000:] if stacks is not None else "(py-spy not installed)"
        raise AssertionError(
            f"the worker was still running {seconds} s after SIGTERM; its last output:\n{tail}\n{where}"
        ) from None
    return time.monotonic() - started


def test_worker_stops_on_sigterm(
    tmp_path: Path, temporal_server: tuple[subprocess.Popen[bytes], int]
) -> None:
    _, port = temporal_server
    proc = _worker(tmp_path, port)
    elapsed = _stopped_within(proc, 15)
    output = _output(proc)
    assert proc.returncode == 0, output[-2000:]
    # Nothing in flight: it stops well within its grace, not after some other timeout.
    assert elapsed < GRACE + 3, (elapsed, output[-2000:])
    assert '"worker.stopped"' in output and '"clean": true' in output, output[-2000:]


def test_worker_stops_on_sigterm_when_temporal_is_already_gone(
    tmp_path: Path, temporal_server: tuple[subprocess.Popen[bytes], int]
) -> None:
    server, port = temporal_server
    proc = _worker(tmp_path, port)
    server.kill()
    server.wait()
    elapsed = _stopped_within(proc, 30)
    output = _output(proc)
    assert proc.returncode == 0, output[-2000:]
    # Bounded: the grace, plus the 10 s the SDK's shutdown gets before the worker leaves anyway.
    assert elapsed < GRACE + 10 + 4, (elapsed, output[-2000:])


def test_dev_stops_on_sigterm_with_its_temporal_server_and_no_traceback(tmp_path: Path) -> None:
    """``make run`` (``followthrough dev``) under a process manager: SIGTERM stops the API, the
    worker and the embedded Temporal server it started, in order and quietly."""
    api, temporal, ui = _free_port(), _free_port(), _free_port()
    env = {
        **os.environ,
        "FOLLOWTHROUGH_DATABASE_URL": f"sqlite:///{tmp_path / 'ft.db'}",
        "FOLLOWTHROUGH_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal}",
        "FOLLOWTHROUGH_WORKER_METRICS_ADDRESS": "",
        "FOLLOWTHROUGH_WORKER_SHUTDOWN_GRACE_SECONDS": "2",
    }
    cmd = ["dev", "--port", str(api), "--temporal-port", str(temporal), "--ui-port", str(ui)]
    proc = _started(cmd, env, ready="Press Ctrl+C to stop.", within=90, cwd=tmp_path)
    elapsed = _stopped_within(proc, 40)
    output = _output(proc)
    assert proc.returncode == 0, output[-2000:]
    assert elapsed < GRACE + 15, (elapsed, output[-2000:])  # `dev` waits at most grace + 15 s
    assert "Traceback" not in output and "never retrieved" not in output, output[-4000:]
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", temporal)) != 0, "the embedded Temporal server still runs"
