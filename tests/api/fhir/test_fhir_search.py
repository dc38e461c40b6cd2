"""Searching: each parameter, paging by link.next, the order, and team isolation. Every answer
is parsed as an R4B Bundle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.fhir.params import instant_range
from store import repositories as repo
from store.db import make_engine, make_sessionmaker
from store.models import Interaction
from tests.api.fhir import seed as s
from tests.api.support import ANA, LEAD, OPS, OTHER_LEAD, SYSTEM


async def search(
    api: httpx.AsyncClient, path: str, headers: dict[str, str] = LEAD, /, **params: Any
) -> Bundle:
    r = await api.get(f"/fhir/r4/{path}", params=params, headers=headers)
    return s.bundle_of(r)


async def task_ids(api: httpx.AsyncClient, headers: dict[str, str] = LEAD, **params: Any) -> set[str]:
    b = await search(api, "Task", headers, **params)
    assert b.total == len(b.entry or [])
    return set(s.ids_of(b))


async def test_a_staff_member_searches_their_own_team_only(fhir: httpx.AsyncClient) -> None:
    assert await task_ids(fhir) == set(s.EASTSIDE_CASES)
    assert await task_ids(fhir, ANA) == set(s.EASTSIDE_CASES)
    assert await task_ids(fhir, OTHER_LEAD) == {s.OTHER_TEAM}
    for headers in (OPS, SYSTEM):
        assert await task_ids(fhir, headers) == {*s.EASTSIDE_CASES, s.OTHER_TEAM}
    # mem-1 has cases in both teams: each team sees its own
    assert await task_ids(fhir, patient="Patient/mem-1") == {s.NEW, s.COMPLETED, s.CANCELLED}
    assert await task_ids(fhir, OTHER_LEAD, patient="mem-1") == {s.OTHER_TEAM}
    comms = s.ids_of(await search(fhir, "Communication", OTHER_LEAD))
    assert comms == [s.inbound(s.OTHER_TEAM), s.OTHER_TEAM_ATTEMPT]
    flags = s.ids_of(await search(fhir, "Flag", OTHER_LEAD))
    assert flags == [s.OTHER_TEAM_ESCALATION]


async def test_tasks_by_patient(fhir: httpx.AsyncClient) -> None:
    assert await task_ids(fhir, patient="mem-2") == {s.WORKING, s.FAILED}
    assert await task_ids(fhir, patient=f"{s.FHIR}/Patient/mem-2") == {s.WORKING, s.FAILED}
    assert await task_ids(fhir, patient="Patient/mem-2,Patient/mem-orphan") == {
        s.WORKING,
        s.FAILED,
        s.ESCALATED,
    }
    assert await task_ids(fhir, patient="Group/mem-2") == set()
    assert await task_ids(fhir, patient="nobody") == set()


async def test_tasks_by_owner(fhir: httpx.AsyncClient) -> None:
    assert await task_ids(fhir, owner="Practitioner/chw-ben") == {s.WORKING, s.FAILED}
    assert await task_ids(fhir, owner="Organization/eastside") == {s.ESCALATED}  # the unassigned
    assert await task_ids(fhir, owner="chw-ana") == {s.NEW, s.COMPLETED, s.CANCELLED}
    assert await task_ids(fhir, owner="eastside") == {s.ESCALATED}
    assert await task_ids(fhir, owner="Practitioner/chw-ben,Organization/eastside") == {
        s.WORKING,
        s.FAILED,
        s.ESCALATED,
    }
    assert await task_ids(fhir, owner="Practitioner/lead-other") == set()  # another team's staff
    assert await task_ids(fhir, OPS, owner="Organization/westside") == set()  # assigned


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("requested", {s.NEW}),
        ("in-progress", {s.WORKING, s.ESCALATED}),
        ("completed", {s.COMPLETED}),
        ("failed", {s.FAILED}),
        ("cancelled", {s.CANCELLED}),
        ("completed,failed,cancelled", {s.COMPLETED, s.FAILED, s.CANCELLED}),
        ("http://hl7.org/fhir/task-status|requested", {s.NEW}),
        ("on-hold", set()),  # a Task status no case has
        ("http://example.org/other|requested", set()),
    ],
)
async def test_tasks_by_status(fhir: httpx.AsyncClient, status: str, expected: set[str]) -> None:
    assert await task_ids(fhir, status=status) == expected


async def test_tasks_by_code(fhir: httpx.AsyncClient) -> None:
    everything = set(s.EASTSIDE_CASES)
    assert await task_ids(fhir, code="make-contact") == everything
    sdohcc = "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"
    assert await task_ids(fhir, code=f"{sdohcc}|make-contact") == everything
    assert await task_ids(fhir, code="review-material") == set()
    assert await task_ids(fhir, code="http://snomed.info/sct|make-contact") == set()


async def test_tasks_by_last_update(fhir: httpx.AsyncClient) -> None:
    # Updated at +1 min (NEW), +5 (ESCALATED), +50 (CANCELLED), +100 (COMPLETED), +180 (WORKING),
    # +600 (FAILED)
    t100 = "2026-03-02T16:40:00Z"
    assert await task_ids(fhir, _lastUpdated=f"gt{t100}") == {s.WORKING, s.FAILED}
    assert await task_ids(fhir, _lastUpdated=f"ge{t100}") == {s.COMPLETED, s.WORKING, s.FAILED}
    assert await task_ids(fhir, _lastUpdated=f"lt{t100}") == {s.NEW, s.ESCALATED, s.CANCELLED}
    assert await task_ids(fhir, _lastUpdated=f"le{t100}") == {s.NEW, s.ESCALATED, s.CANCELLED, s.COMPLETED}
    # Repeated: both hold. With a zone, and at a day's precision.
    both: list[tuple[str, str | int | float | bool | None]] = [
        ("_lastUpdated", "ge2026-03-02T10:05:00-05:00"),
        ("_lastUpdated", "lt2026-03-02T16:40:00Z"),
    ]
    r = await fhir.get("/fhir/r4/Task", params=both, headers=LEAD)
    assert set(s.ids_of(s.bundle_of(r))) == {s.ESCALATED, s.CANCELLED}
    assert await task_ids(fhir, _lastUpdated="gt2026-03-01") == set(s.EASTSIDE_CASES)
    assert await task_ids(fhir, _lastUpdated="gt2026-03-02") == {s.FAILED}  # 01:00 UTC on the 3rd
    assert await task_ids(fhir, _lastUpdated="le2026-03") == set(s.EASTSIDE_CASES)


async def test_polling_with_the_last_seen_change_misses_nothing_and_repeats_nothing(
    fhir: httpx.AsyncClient,
) -> None:
    b = await search(fhir, "Task", _lastUpdated="gt2026-03-02T15:50:00Z")
    seen = s.resources(b)
    assert [t.id for t in seen] == [s.COMPLETED, s.WORKING, s.FAILED]  # oldest change first
    last = s.last_updated(seen[1]).isoformat().replace("+00:00", "Z")
    assert s.ids_of(await search(fhir, "Task", _lastUpdated=f"gt{last}")) == [s.FAILED]


async def test_paging_follows_link_next_to_the_end(fhir: httpx.AsyncClient) -> None:
    for sort, order in (("_lastUpdated", 1), ("-_lastUpdated", -1)):
        url: str | None = f"{s.FHIR}/Task?_count=2&_sort={sort}&patient=mem-1,mem-2,mem-orphan"
        pages: list[list[str]] = []
        updated: list[datetime] = []
        while url is not None:
            r = await fhir.get(url, headers=LEAD)
            b = s.bundle_of(r)
            assert b.total == 6
            links = {link.relation: link.url for link in b.link or []}
            assert links["self"] == url
            pages.append(s.ids_of(b))
            updated += [s.last_updated(e.resource) for e in b.entry or []]
            url = links.get("next")
        assert [len(p) for p in pages] == [2, 2, 2]
        assert sorted(id for p in pages for id in p) == sorted(s.EASTSIDE_CASES)
        assert updated == sorted(updated, reverse=order < 0)


async def test_count_is_fifty_by_default_at_most_five_hundred_and_zero_gives_the_total(
    fhir: httpx.AsyncClient,
) -> None:
    b = await search(fhir, "Task", _count=0)
    assert (b.total, b.entry) == (6, None)
    assert [link.relation for link in b.link or []] == ["self"]
    b = await search(fhir, "Task", _count=100000)
    assert len(b.entry or []) == 6
    b = await search(fhir, "Task", _total="none", _count=1)
    assert b.total is None and len(b.entry or []) == 1
    assert any(link.relation == "next" for link in b.link or [])


async def test_communications_by_task_patient_and_last_update(fhir: httpx.AsyncClient) -> None:
    b = await search(fhir, "Communication", **{"part-of": f"Task/{s.WORKING}"})
    # the member's voicemail that opened the case (received at +0), then the attempts
    assert s.ids_of(b) == [s.inbound(s.WORKING), s.WORKING_NO_ANSWER, s.WORKING_VOICEMAIL]
    b = await search(fhir, "Communication", **{"part-of": s.COMPLETED})
    assert s.ids_of(b) == [s.inbound(s.COMPLETED), s.COMPLETED_NO_ANSWER, s.COMPLETED_REACHED]
    b = await search(fhir, "Communication", patient="Patient/mem-2", _sort="-_lastUpdated")
    b1, b2, b3 = s.FAILED_ATTEMPTS  # at +10, +130, +250 min; WORKING's at +30, +180; both received at +0
    newest_first = [
        b3,
        s.WORKING_VOICEMAIL,
        b2,
        s.WORKING_NO_ANSWER,
        b1,
        s.inbound(s.FAILED),
        s.inbound(s.WORKING),
    ]
    assert s.ids_of(b) == newest_first
    b = await search(fhir, "Communication", patient="mem-2", _lastUpdated="ge2026-03-02T17:00:00Z")
    assert s.ids_of(b) == [b2, s.WORKING_VOICEMAIL, b3]
    assert s.ids_of(await search(fhir, "Communication", **{"part-of": f"Task/{s.OTHER_TEAM}"})) == []


async def test_flags_by_patient_and_status(fhir: httpx.AsyncClient) -> None:
    assert s.ids_of(await search(fhir, "Flag", status="active")) == [s.SAFETY]
    assert s.ids_of(await search(fhir, "Flag", status="inactive")) == [s.UNREACHABLE]
    assert s.ids_of(await search(fhir, "Flag", status="entered-in-error")) == []
    assert s.ids_of(await search(fhir, "Flag", patient="Patient/mem-2")) == [s.UNREACHABLE]
    assert s.ids_of(await search(fhir, "Flag", patient="mem-orphan", status="inactive")) == []
    assert s.ids_of(await search(fhir, "Flag", OPS, status="active")) == [s.OTHER_TEAM_ESCALATION, s.SAFETY]


# ---------------------------------------------------------------- the pieces
def test_a_date_covers_the_span_of_its_precision() -> None:
    def span(value: str) -> timedelta:
        start, end = instant_range(value)
        return end - start

    assert instant_range("2026")[0] == datetime(2026, 1, 1, tzinfo=UTC)
    assert span("2026") == timedelta(days=365)
    assert span("2026-02") == timedelta(days=28)
    assert span("2026-03-02") == timedelta(days=1)
    assert span("2026-03-02T10:00Z") == timedelta(minutes=1)
    assert span("2026-03-02T10:00:00Z") == timedelta(seconds=1)
    assert span("2026-03-02T10:00:00.12Z") == timedelta(milliseconds=10)
    assert span("2026-03-02T10:00:00.123456Z") == timedelta(microseconds=1)
    assert instant_range("2026-03-02T10:00:00 05:00")[0] == datetime(
        2026, 3, 2, 5, tzinfo=UTC
    )  # '+' as space
    for bad in ("2026-03-02T10:00:00", "yesterday", "2026-13", "2026-03-02T25:00:00Z"):
        with pytest.raises(ValueError):  # noqa: PT011
            instant_range(bad)


def test_the_stage_clause_selects_exactly_the_cases_case_stage_puts_there(seeded: str) -> None:
    engine = make_engine(seeded)
    try:
        with make_sessionmaker(engine)() as session:
            assert_stages_agree(session)
    finally:
        engine.dispose()


def assert_stages_agree(session: Session) -> None:
    rows = list(session.scalars(select(Interaction)))
    contacted = repo.contacted_cases(session, [r.id for r in rows])
    for stage in repo.CASE_STAGES:
        by_sql = {r.id for r in session.scalars(select(Interaction).where(repo.stage_clause(stage)))}
        by_rule = {r.id for r in rows if repo.case_stage(r, contacted=r.id in contacted) == stage}
        assert by_sql == by_rule, stage
        assert by_rule, f"the seed has no case at stage {stage}"
