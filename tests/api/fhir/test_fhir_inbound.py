"""The member's own contacts as Communications (docs/fhir.md "Communication = an inbound
contact"): the call, voicemail or text that opened a case and each repeat merged into it, sent
by the Patient to the team; and how each contact was made (``medium``). Every answer is parsed
with the R4B models."""

from __future__ import annotations

import httpx
from fhir.resources.R4B.communication import Communication

from api.fhir import codes
from store.db import make_engine, make_sessionmaker, unit_of_work
from tests.api.fhir import seed as s
from tests.api.fhir.test_fhir_read import read
from tests.api.fhir.test_fhir_search import search
from tests.api.support import ANA, LEAD, OTHER_LEAD


def _repeat(db_url: str) -> s.Repeat:
    engine = make_engine(db_url)
    with unit_of_work(make_sessionmaker(engine)) as session:
        repeat = s.add_repeat_contact(session)
    engine.dispose()
    return repeat


def medium_of(c: Communication) -> tuple[str, str, str | None]:
    [m] = c.medium or []
    assert m.coding is not None
    first = m.coding[0]
    assert first.system is not None and first.code is not None
    return first.system, first.code, m.text


async def test_the_voicemail_that_opened_a_case_is_a_communication_from_the_member(
    fhir: httpx.AsyncClient,
) -> None:
    c = await read(fhir, Communication, f"Communication/{s.inbound(s.WORKING)}")
    assert c.status == "completed" and c.statusReason is None
    assert [p.reference for p in c.partOf or []] == [f"Task/{s.WORKING}"]
    assert c.sender is not None and c.sender.reference == "Patient/mem-2"
    assert [r.reference for r in c.recipient or []] == ["Organization/eastside"]
    assert c.subject is not None and c.subject.reference == "Patient/mem-2"
    assert c.received == s.at(0) and c.meta is not None and c.meta.lastUpdated == s.at(0)
    assert medium_of(c) == (codes.PARTICIPATION_MODE, "PHONE", "voicemail")
    # the member's words (the case's summary) for a reader of the team, as in the JSON API
    assert [p.contentString for p in c.payload or []] == ["CANARY-SUMMARY member asked about food bank"]


async def test_a_repeat_contact_is_its_own_communication_with_its_text(
    fhir: httpx.AsyncClient, seeded: str
) -> None:
    repeat = _repeat(seeded)
    c = await read(fhir, Communication, f"Communication/{repeat.communication}", ANA)
    assert c.sender is not None and c.sender.reference == "Patient/mem-2"
    assert c.received == s.at(200)
    assert medium_of(c) == (codes.PARTICIPATION_MODE, "WRITTEN", "text message")
    assert [p.contentString for p in c.payload or []] == [repeat.text]
    b = await search(fhir, "Communication", **{"part-of": f"Task/{s.WORKING}"})
    assert s.ids_of(b) == [
        s.inbound(s.WORKING),
        s.WORKING_NO_ANSWER,
        s.WORKING_VOICEMAIL,
        repeat.communication,
    ]
    assert b.total == 4
    # the CHW's attempt said how it was made: the Communication says it too
    attempt = await read(fhir, Communication, f"Communication/{s.WORKING_VOICEMAIL}")
    assert medium_of(attempt) == (codes.PARTICIPATION_MODE, "PHONE", "phone call")
    assert attempt.sender is not None and attempt.sender.reference == "Practitioner/chw-ben"
    # an attempt whose channel was not said has no medium
    assert (await read(fhir, Communication, f"Communication/{s.WORKING_NO_ANSWER}")).medium is None


async def test_inbound_contacts_page_with_the_attempts_and_stay_in_their_team(
    fhir: httpx.AsyncClient, seeded: str
) -> None:
    repeat = _repeat(seeded)
    seen: list[str] = []
    b = await search(fhir, "Communication", patient="mem-2", _count=2)
    while True:
        seen += s.ids_of(b)
        nxt = next((link.url for link in b.link or [] if link.relation == "next"), None)
        if nxt is None:
            break
        r = await fhir.get(nxt, headers=LEAD)
        b = s.bundle_of(r)
    b1, b2, b3 = s.FAILED_ATTEMPTS
    assert seen == [
        s.inbound(s.WORKING),
        s.inbound(s.FAILED),
        b1,
        s.WORKING_NO_ANSWER,
        b2,
        s.WORKING_VOICEMAIL,
        repeat.communication,
        b3,
    ]
    for cid in (s.inbound(s.WORKING), repeat.communication):
        r = await fhir.get(f"/fhir/r4/Communication/{cid}", headers=OTHER_LEAD)
        assert r.status_code == 404
        assert f"Communication/{cid} is not known" in r.text
    for unknown in ("in-nope", "in-", f"in-{s.WORKING_NO_ANSWER}"):
        r = await fhir.get(f"/fhir/r4/Communication/{unknown}", headers=LEAD)
        assert r.status_code == 404, unknown
