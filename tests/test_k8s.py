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


# ---------------------------------------------------------------- issue 23
def pod_labels(doc: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = doc["spec"]["template"]["metadata"]["labels"]
    return labels


def test_more_than_one_api_replica_requires_a_shared_console_session_key(
    applied: dict[tuple[str, str], dict[str, Any]],
) -> None:
    """Without one key on every replica a console session dies whenever a request reaches
    another replica: the key is in the Secret, and a pod without it does not start."""
    api = applied[("Deployment", "followthrough-api")]
    example = documents("secret.example.yaml")[0]["stringData"]
    assert "FOLLOWTHROUGH_CONSOLE_SESSION_KEY" in example
    config = applied[("ConfigMap", "followthrough")]["data"]
    assert "FOLLOWTHROUGH_CONSOLE_SESSION_KEY" not in config  # a secret, never in the ConfigMap
    if api["spec"]["replicas"] > 1:
        (container,) = containers(api)
        required = {
            e["name"]: e["valueFrom"]["secretKeyRef"]
            for e in container.get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})
        }
        ref = required.get("FOLLOWTHROUGH_CONSOLE_SESSION_KEY")
        assert ref is not None, "the API deployment must require the console session key"
        assert ref["name"] == "followthrough-secrets"
        assert ref["key"] == "FOLLOWTHROUGH_CONSOLE_SESSION_KEY"
        assert ref.get("optional", False) is False


def test_metrics_ports_are_reachable_by_prometheus_only(
    applied: dict[tuple[str, str], dict[str, Any]],
) -> None:
    """The API's internal metrics port serves per-team figures without a token, and the worker's
    SDK metrics have none either: a NetworkPolicy lets only Prometheus reach them."""
    policies = [doc for (kind, _), doc in applied.items() if kind == "NetworkPolicy"]
    for name in ("followthrough-api", "followthrough-worker"):
        deployment = applied[("Deployment", name)]
        labels = pod_labels(deployment)
        (container,) = containers(deployment)
        metrics = next(p["containerPort"] for p in container["ports"] if p["name"] == "metrics")
        selecting = [
            p
            for p in policies
            if p["spec"]["podSelector"].get("matchLabels", {}).items() <= labels.items()
            and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
        ]
        assert selecting, f"no NetworkPolicy selects the {name} pods"
        for policy in selecting:
            for rule in policy["spec"].get("ingress", []):
                ports = {p["port"] for p in rule.get("ports", [])}
                assert ports, f"{policy['metadata']['name']}: a rule without ports opens every port"
                if metrics in ports or "metrics" in ports:
                    peers = rule.get("from", [])
                    assert peers, f"{policy['metadata']['name']}: the metrics port is open to all"
                    for peer in peers:
                        assert peer.get("podSelector", {}).get("matchLabels"), peer
        if name == "followthrough-api":
            http = next(p["containerPort"] for p in container["ports"] if p["name"] == "http")
            open_http = [
                r
                for p in selecting
                for r in p["spec"].get("ingress", [])
                if {q["port"] for q in r.get("ports", [])} & {http, "http"}
            ]
            assert open_http, "the API's own port must stay reachable"
