"""deploy/k8s: the manifests hold together without a cluster (none is reachable here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from cli.main import app
from config.settings import Settings
from tests.test_compose import cli_params

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
SETTING_NAMES = {f"FOLLOWTHROUGH_{name.upper()}" for name in Settings.model_fields}


def documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


@pytest.fixture(scope="module")
def applied() -> dict[tuple[str, str], dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    found = {}
    for resource in kustomization["resources"]:
        for doc in documents(resource):
            found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = doc["spec"]["template"]["spec"]["containers"]
    return result


def test_api_and_worker_run_real_commands_as_non_root_with_probes(
    applied: dict[tuple[str, str], dict[str, Any]],
) -> None:
    assert app is not None
    api = applied[("Deployment", "followthrough-api")]
    worker = applied[("Deployment", "followthrough-worker")]
    job = applied[("Job", "followthrough-migrate")]
    for doc in (api, worker, job):
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        (container,) = containers(doc)
        cli_params(container["args"])
        refs = {next(iter(r.values()))["name"] for r in container["envFrom"]}
        assert refs == {"followthrough", "followthrough-secrets"}
    (api_c,) = containers(api)
    assert api_c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api_c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    (worker_c,) = containers(worker)
    assert worker_c["readinessProbe"] and worker_c["livenessProbe"]
    # Graceful shutdown: the pod outlives the worker's grace for running activities.
    config = applied[("ConfigMap", "followthrough")]["data"]
    grace = float(config["FOLLOWTHROUGH_WORKER_SHUTDOWN_GRACE_SECONDS"])
    assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > grace
    assert api["spec"]["replicas"] >= 2 and worker["spec"]["replicas"] >= 2


def test_config_is_settings_and_holds_no_secret(
    applied: dict[tuple[str, str], dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = applied[("ConfigMap", "followthrough")]["data"]
    assert set(config) <= SETTING_NAMES
    for secret in ("FOLLOWTHROUGH_CODEC_KEY", "FOLLOWTHROUGH_TOKENS", "FOLLOWTHROUGH_TEMPORAL_API_KEY"):
        assert secret not in config
    example = documents("secret.example.yaml")[0]["stringData"]
    assert set(example) <= SETTING_NAMES
    assert ("Secret", "followthrough-secrets") not in applied, "the real secret is made by hand"
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    for key, value in config.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.temporal_tls and settings.oidc_issuer
