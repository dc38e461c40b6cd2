"""A real case, run by its workflow and projected to SQL, reads back through the FHIR facade as
the JSON API shows it: the seeded read model of the other tests is no stand-in for the real one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.flag import Flag
from fhir.resources.R4B.task import Task
from temporalio.testing import WorkflowEnvironment

from tests.api.fhir.seed import bundle_of, entries, first_code
from tests.api.support import ANA, create, detail, require_real_clock, setup_team
from tests.workflows.support import eventually


async def fhir_task(api: httpx.AsyncClient, iid: str) -> Task:
    r = await api.get(f"/fhir/r4/Task/{iid}", headers=ANA)
    assert r.status_code == 200, r.text
    return Task.model_validate_json(r.content)


async def act(api: httpx.AsyncClient, iid: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await api.post(f"/v1/interactions/{iid}/{action}", json=body, headers=ANA)
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


async def test_a_running_case_reads_back_as_a_task_with_its_attempts_and_flags(
    api: httpx.AsyncClient, env: WorkflowEnvironment
) -> None:
    await require_real_clock(env)
    await setup_team(api)
    case = await create(api, member_id="mem-1", channel="text")
    iid = case["id"]

    t = await fhir_task(api, iid)
    assert t.owner is not None and t.businessStatus is not None
    assert (t.status, t.priority, t.owner.reference) == ("requested", "routine", "Practitioner/chw-ana")
    assert t.businessStatus.text == "awaiting first contact"
    assert t.authoredOn == datetime.fromisoformat(case["received_at"])
    assert t.restriction is not None and t.restriction.period is not None
    assert t.restriction.period.end == datetime.fromisoformat(case["due_at"])

    await act(api, iid, "attempts", {"outcome": "no_answer", "note": "CANARY-NOTE rang twice"})
    t = await fhir_task(api, iid)
    assert t.status == "in-progress"
    assert t.businessStatus is not None and t.businessStatus.text == "attempt 1 of 3, no answer"
    assert t.input is not None
    assert {first_code(i.type): i.valueUnsignedInt for i in t.input}["contacts"] == 1
    r = await api.get("/fhir/r4/Communication", params={"part-of": f"Task/{iid}"}, headers=ANA)
    received, entry = entries(bundle_of(r))
    first = received.resource
    assert isinstance(first, Communication) and first.sender is not None
    assert (first.id, first.sender.reference) == (f"in-{iid}", "Patient/mem-1")
    comm = entry.resource
    assert isinstance(comm, Communication) and comm.sender is not None and comm.payload is not None
    assert (comm.status, comm.sender.reference) == ("not-done", "Practitioner/chw-ana")
    assert [p.contentString for p in comm.payload] == ["CANARY-NOTE rang twice"]

    await act(api, iid, "flags", {"flag": "safety"})

    async def escalated() -> Task | None:
        t = await fhir_task(api, iid)
        return t if t.priority == "stat" else None

    t = await eventually(escalated)
    assert t.businessStatus is not None and t.businessStatus.text == "escalated: safety"
    r = await api.get("/fhir/r4/Flag", params={"patient": "mem-1", "status": "active"}, headers=ANA)
    [entry] = entries(bundle_of(r))
    assert entry.resource is not None
    flag = Flag.model_validate(entry.resource.model_dump())
    assert first_code(flag.code) == "safety"
    assert flag.author is not None and flag.author.reference == "Practitioner/chw-ana"
    assert flag.id == (await detail(api, iid))["escalations"][0]["id"]
