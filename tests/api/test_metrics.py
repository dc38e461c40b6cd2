"""Ops view of the API (docs/api.md §4.3): ``/metrics`` for Prometheus, and a request id on every answer."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import structlog
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from store.figures import record_figures
from tests.api.support import ANA, OPS, SYSTEM, create, require_real_clock, setup_other_team, setup_team
from tests.workflows.support import eventually


async def scrape(api: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """``/metrics`` as {(sample name, labels): value}, scraped with an ops token as Prometheus is."""
    r = await api.get("/metrics", headers=OPS)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def sample(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_requests_are_counted_by_route_template_and_status(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    created = await create(api)
    for _ in range(3):
        assert (await api.get(f"/v1/interactions/{created['id']}", headers=SYSTEM)).status_code == 200
    assert (await api.get("/v1/interactions/no-such-id", headers=SYSTEM)).status_code == 404
    assert (await api.get("/v1/interactions", headers={"Authorization": "Bearer wrong"})).status_code == 401

    samples = await scrape(api)
    one = "/v1/interactions/{interaction_id}"
    assert sample(samples, "followthrough_http_requests_total", method="GET", route=one, status="200") == 3
    assert sample(samples, "followthrough_http_requests_total", method="GET", route=one, status="404") == 1
    assert (
        sample(
            samples,
            "followthrough_http_requests_total",
            method="POST",
            route="/v1/interactions",
            status="201",
        )
        == 1
    )
    assert (
        sample(
            samples, "followthrough_http_requests_total", method="GET", route="/v1/interactions", status="401"
        )
        == 1
    )
    assert (
        sample(
            samples,
            "followthrough_http_request_duration_seconds_count",
            method="GET",
            route=one,
            status="200",
        )
        == 3
    )
    # Raw paths never become labels: ids would make one series per interaction.
    routes = {dict(labels).get("route", "") for _, labels in samples}
    assert not any(created["id"] in route or "no-such-id" in route for route in routes)


async def test_queue_figures_per_team(api: httpx.AsyncClient, env: WorkflowEnvironment) -> None:
    await require_real_clock(env)
    await setup_team(api)
    await setup_other_team(api)
    await create(api)  # due later today or the next business day
    await create(api, member_id="mem-orphan")  # unassigned queue
    # A backfill from last week: its deadline has passed and nobody answered.
    await create(api, received_at=(datetime.now(UTC) - timedelta(days=8)).isoformat())
    answered = await create(api, received_at=(datetime.now(UTC) - timedelta(days=8)).isoformat())
    r = await api.post(
        f"/v1/interactions/{answered['id']}/attempts", json={"outcome": "reached"}, headers=ANA
    )
    assert r.status_code == 200, r.text

    samples = await scrape(api)
    assert sample(samples, "followthrough_queue_metrics_up") == 1
    open_eastside = sum(
        sample(samples, "followthrough_interactions_open", team_id="eastside", status=status)
        for status in ("open", "attempting", "escalated")
    )
    assert open_eastside == 4
    assert sample(samples, "followthrough_interactions_overdue", team_id="eastside") == 1
    assert sample(samples, "followthrough_interactions_unassigned", team_id="eastside") == 1
    # A team with nothing open still shows up, with zeros, so dashboards do not go blank.
    assert ("followthrough_interactions_overdue", frozenset({("team_id", "westside")})) in samples
    assert sample(samples, "followthrough_interactions_overdue", team_id="westside") == 0
    assert sample(samples, "followthrough_interactions_open", team_id="westside", status="open") == 0

    # Both backfills missed their deadline: two deadline_missed escalations wait for a lead.
    async def missed() -> float:
        return sample(
            await scrape(api),
            "followthrough_escalations_open",
            team_id="eastside",
            trigger="deadline_missed",
            status="open",
        )

    assert await eventually(lambda: _equals(missed(), 2))


async def _equals(value: Any, want: float) -> bool:
    return bool(await value == want)


async def test_request_id_is_echoed_or_generated_and_bound_to_log_lines(api: httpx.AsyncClient) -> None:
    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        r = await api.get("/healthz", headers={"X-Request-ID": "call-center-7f3a"})
    assert r.headers["X-Request-ID"] == "call-center-7f3a"
    assert any(e.get("request_id") == "call-center-7f3a" and e["event"] == "http.request" for e in logs)

    first = (await api.get("/healthz")).headers["X-Request-ID"]
    second = (await api.get("/healthz")).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", first) and first != second

    # An id that is unusable in a log line is replaced, not echoed.
    odd = await api.get("/healthz", headers={"X-Request-ID": "x" * 500})
    assert re.fullmatch(r"[0-9a-f]{32}", odd.headers["X-Request-ID"])
    # Error answers carry it too.
    assert "X-Request-ID" in (await api.get("/v1/interactions")).headers


ALERT_RULES = yaml.safe_load((Path(__file__).parents[2] / "deploy/prometheus/alerts.yml").read_text())


async def test_every_alert_rule_names_a_metric_the_api_serves(api: httpx.AsyncClient) -> None:
    rules = ALERT_RULES["groups"][0]["rules"]
    served = (await api.get("/metrics", headers=OPS)).text
    for rule in rules:
        for name in re.findall(r"followthrough_[a-z_]+", rule["expr"]):
            # A counter's samples are named ``<name>_total``; its TYPE line has the bare name.
            counter = f"# TYPE {name.removesuffix('_total')} counter" if name.endswith("_total") else None
            assert f"# TYPE {name} " in served or (counter is not None and counter in served), (
                f"{rule['alert']} reads {name}, which /metrics does not serve"
            )


async def test_metrics_without_a_token_show_no_team(api: httpx.AsyncClient) -> None:
    """Per-team figures (team ids) need an ops or system token; a CHW's token does not unlock them."""
    await setup_team(api)
    await create(api)
    for headers in ({}, ANA, {"Authorization": "Bearer nonsense"}):
        r = await api.get("/metrics", headers=headers)
        assert r.status_code == 200
        assert "followthrough_http_requests" in r.text
        assert "eastside" not in r.text and "followthrough_interactions_open" not in r.text
    assert 'team_id="eastside"' in (await api.get("/metrics", headers=OPS)).text


async def test_reconcile_figures_are_served_from_the_database(
    api: httpx.AsyncClient, sessions: sessionmaker[Session]
) -> None:
    """What reconcile found (written by whichever worker ran it) is served by every API replica."""
    before = await scrape(api)
    assert ("followthrough_reconcile_last_run_timestamp_seconds", frozenset()) not in before  # never ran
    with sessions() as s:
        record_figures(s, {"row_differs": 2, "row_missing": 1}, whole=True)
        record_figures(s, {"row_differs": 1}, whole=False)  # a run limited to one team
    after = await scrape(api)
    assert sample(after, "followthrough_reconcile_differences_total", kind="row_differs") == 3
    assert sample(after, "followthrough_reconcile_differences_total", kind="row_missing") == 1
    assert sample(after, "followthrough_reconcile_runs_total") == 1
    last = sample(after, "followthrough_reconcile_last_run_timestamp_seconds")
    assert abs(last - datetime.now(UTC).timestamp()) < 60
    # Not for anyone without a token.
    assert "followthrough_reconcile" not in (await api.get("/metrics")).text
