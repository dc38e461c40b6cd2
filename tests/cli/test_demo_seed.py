"""The first run shows the product: the demo team's cases (cli/demo.py) come in every state the
console shows, with named members, and a second run adds nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.notifications import LogChannel
from api.console import views
from cli import demo
from config.settings import Settings
from domain.models import TeamConfig
from services.absences import Absences
from services.access import Principal
from services.context import Context, TemporalLink
from services.db import Database
from services.interactions import Interactions
from services.public import InteractionPublic
from services.teams import DEMO_TEAM, load_team_file, read_team_file
from store.db import make_engine, make_sessionmaker
from store.migrate import upgrade
from tests.api.support import zone_where_it_is
from tests.workflows.support import eventually
from workers.main import build_worker

pytestmark = pytest.mark.timeout(180)
SYSTEM = Principal(role="system")


async def test_demo_cases_come_in_every_state_once(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    team = read_team_file(DEMO_TEAM)
    # The demo team's calendar, open every day at a zone where it is 11:00 now, so that a case can
    # be due soon whenever the test runs (on the real calendar only in open hours).
    raw = team.config.model_dump(mode="json")
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    raw["calendar"].update(
        timezone=zone_where_it_is(11),
        hours={d: [["09:00", "17:00"]] for d in days},
        holiday_country=None,
        closures=[],
    )
    team.config = TeamConfig.model_validate(raw)
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    upgrade(url)
    settings = Settings(database_url=url, task_queue=f"tq-demo-{uuid.uuid4().hex[:8]}")
    sessions = make_sessionmaker(make_engine(url))
    load_team_file(sessions, team)
    ctx = Context(Database(sessions, threads=4), settings, TemporalLink.of(dev_env.client))
    worker = build_worker(
        dev_env.client, task_queue=settings.task_queue, sessions=sessions, channel=LogChannel()
    )
    async with worker:
        first = await demo.seed(ctx, team.team_id, team.config, chw_id="chw-ana", away_id="chw-ben")
        assert first.absence and len(first.created) == len(demo.CASES)

        cases = Interactions(ctx)

        async def every_case() -> list[InteractionPublic]:
            page = await cases.page(SYSTEM, team_id=team.team_id, status="open,attempting,escalated,resolved")
            items = page.items
            escalated = {e.trigger for i in items for e in i.escalations}
            return items if {"safety", "deadline_missed", "unreachable"} <= escalated else []

        items = await eventually(every_case)
        now = datetime.now(UTC)
        states = {views.state_of(i, team.config, now) for i in items}
        assert {"due", "due soon", "breached", "waiting to retry", "unreachable", "resolved"} <= states
        assert any(views.safety_of(i) == views.SAFETY_OPEN for i in items)
        unknown = [i for i in items if i.member_id is None]
        assert len(unknown) == 1 and unknown[0].caller_phone == "+13125550199"

        # Ben is away, backed up by Ana: his member's case is Ana's.
        async def away() -> list[tuple[str, str | None, str]]:
            page = await Absences(ctx).page(SYSTEM, team_id=team.team_id, status="active")
            return [(a.staff_id, a.backup_id, a.status) for a in page.items]

        assert await eventually(away) == [("chw-ben", "chw-ana", "active")]
        (bens,) = [i for i in items if i.member_id == "mem-1003"]
        assert bens.assignee_id == "chw-ana"

        # A second `make run`: nothing new.
        again = await demo.seed(ctx, team.team_id, team.config, chw_id="chw-ana", away_id="chw-ben")
        assert again.created == [] and not again.absence
        page = await cases.page(SYSTEM, team_id=team.team_id, status="open,attempting,escalated,resolved")
        assert len(page.items) == len(items)
        assert len((await Absences(ctx).page(SYSTEM, team_id=team.team_id)).items) == 1


def test_demo_members_have_fictional_names_and_numbers() -> None:
    members = read_team_file(DEMO_TEAM).members
    assert len(members) >= 9
    for m in members:
        assert m.display_name and m.phone and m.phone.startswith("+1312555010")
