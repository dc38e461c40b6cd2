"""Deterministic zones (issue 19 §8): time-zone rules come from the locked ``tzdata`` package
only, never the operating system's zoneinfo, in every process the project starts.

The subprocess tests give Python a "system" zoneinfo whose ``America/Chicago`` is really
Kolkata's rules (UTC+05:30), the way a changed OS rule would differ: a process that searched the
system path first would put Chicago at +05:30; one that takes tzdata's rules has it at -06:00.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import zoneinfo
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_compose import APP_SERVICES, COMPOSE_FILE, container_env, dockerfile_instructions

ROOT = Path(__file__).resolve().parents[1]
CHICAGO_IN_JANUARY = -6 * 3600.0
FAKE_OFFSET = 5.5 * 3600.0

# Imports the module a process starts from, then reports where zones come from.
PROBE = """
import importlib, json, sys, zoneinfo
from datetime import UTC, datetime
if sys.argv[1] != "-":
    importlib.import_module(sys.argv[1])
chicago = zoneinfo.ZoneInfo("America/Chicago")
offset = datetime(2026, 1, 15, 12, tzinfo=UTC).astimezone(chicago).utcoffset()
print(json.dumps({"tzpath": list(zoneinfo.TZPATH), "offset": offset.total_seconds()}))
"""


@pytest.fixture
def system_zoneinfo(tmp_path: Path) -> Path:
    """A system zoneinfo directory whose America/Chicago has other rules (Asia/Kolkata's)."""
    root = tmp_path / "zoneinfo"
    (root / "America").mkdir(parents=True)
    kolkata = resources.files("tzdata.zoneinfo").joinpath("Asia", "Kolkata").read_bytes()
    (root / "America" / "Chicago").write_bytes(kolkata)
    return root


def probe(module: str, env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, module],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_the_fake_system_zoneinfo_would_win_without_the_guard(system_zoneinfo: Path) -> None:
    """The check of the checks: plain Python does search the system path before tzdata."""
    found = probe("-", {**os.environ, "PYTHONTZPATH": str(system_zoneinfo)})
    assert found == {"tzpath": [str(system_zoneinfo)], "offset": FAKE_OFFSET}


# The CLI (`followthrough` = cli.main:app, also `worker`, `api`, `dev`, `migrate`), the API
# app uvicorn imports, and the worker's module: each empties TZPATH when it is imported.
@pytest.mark.parametrize("module", ["cli.main", "api.app", "workers.main"])
def test_every_entry_point_takes_zones_from_tzdata_only(module: str, system_zoneinfo: Path) -> None:
    found = probe(module, {**os.environ, "PYTHONTZPATH": str(system_zoneinfo)})
    assert found == {"tzpath": [], "offset": CHICAGO_IN_JANUARY}, module


def test_a_process_with_the_projects_environment_takes_zones_from_tzdata() -> None:
    """PYTHONTZPATH empty (as make, the image, compose and Kubernetes set it): even a process that
    never imports ``config`` (a healthcheck, a one-off script) resolves zones from tzdata."""
    found = probe("-", {**os.environ, "PYTHONTZPATH": ""})
    assert found == {"tzpath": [], "offset": CHICAGO_IN_JANUARY}


def test_this_test_process_takes_zones_from_tzdata() -> None:
    assert zoneinfo.TZPATH == ()


def test_make_runs_everything_with_an_empty_zone_path(tmp_path: Path, system_zoneinfo: Path) -> None:
    """Every recipe of the Makefile gets PYTHONTZPATH empty, even if the caller's is set."""
    extra = tmp_path / "probe.mk"
    extra.write_text('zone-probe:\n\t@echo "[$${PYTHONTZPATH-unset}]"\n')
    proc = subprocess.run(
        ["make", "--no-print-directory", "-f", "Makefile", "-f", str(extra), "zone-probe"],
        cwd=ROOT,
        env={**os.environ, "PYTHONTZPATH": str(system_zoneinfo)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_the_image_compose_and_kubernetes_set_an_empty_zone_path() -> None:
    stages: list[list[tuple[str, str]]] = []
    for instruction, arguments in dockerfile_instructions():
        if instruction == "FROM":
            stages.append([])
        stages[-1].append((instruction, arguments))
    final_env: dict[str, str] = {}
    for instruction, arguments in stages[-1]:
        if instruction == "ENV":
            for name, value in (pair.split("=", 1) for pair in shlex.split(arguments)):
                final_env[name] = value
    assert final_env.get("PYTHONTZPATH") == "", "the image's processes must run with PYTHONTZPATH empty"

    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    for name in APP_SERVICES:
        assert container_env(services[name]).get("PYTHONTZPATH") == "", name

    for manifest in ("api.yaml", "worker.yaml", "migrate-job.yaml"):
        for doc in yaml.safe_load_all((ROOT / "deploy" / "k8s" / manifest).read_text()):
            if not doc or doc["kind"] not in {"Deployment", "Job"}:
                continue
            for container in doc["spec"]["template"]["spec"]["containers"]:
                env = {e["name"]: e.get("value") for e in container.get("env", [])}
                assert env.get("PYTHONTZPATH") == "", f"{manifest}: {container['name']}"
