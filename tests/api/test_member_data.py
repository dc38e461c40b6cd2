"""No member text in any workflow history (docs/architecture.md §3): canaries go in over HTTP,
never come out."""

from __future__ import annotations

import httpx
from temporalio.client import Client

from tests.api.support import create, setup_team
from tests.conftest import auth
from tests.workflows.support import history_text

CANARIES = {
    "summary": "CANARY-SUMMARY-7f3a Maria Lopez 555-0142 food bank",
    "attempt": "CANARY-ATTEMPT-91bd left message with daughter",
    "flag": "CANARY-FLAG-c2e8 mentioned feeling unsafe at home",
    "assign": "CANARY-ASSIGN-44d0 speaks Spanish",
    "resolution": "CANARY-RESOLUTION-0a9e referred to clinic",
    "action_taken": "CANARY-ACTION-5b1c called her sister",
    "outcome": "CANARY-OUTCOME-e77d safe with family tonight",
}


async def test_member_text_stays_in_the_database(api: httpx.AsyncClient, client: Client) -> None:
    await setup_team(api)
    lead, ana, ben = auth("t-lead"), auth("t-chw-ana"), auth("t-chw-ben")
    created = await create(api, summary=CANARIES["summary"])
    iid = created["id"]
    assert (
        await api.post(
            f"/v1/interactions/{iid}/attempts",
            json={"outcome": "no_answer", "note": CANARIES["attempt"]},
            headers=ana,
        )
    ).status_code == 200
    assert (
        await api.post(
            f"/v1/interactions/{iid}/flags", json={"flag": "sensitive", "note": CANARIES["flag"]}, headers=ana
        )
    ).status_code == 200
    r = await api.post(
        f"/v1/interactions/{iid}/assign",
        json={"assignee_id": "chw-ben", "reason": CANARIES["assign"]},
        headers=lead,
    )
    assert r.status_code == 200
    (escalation,) = r.json()["escalations"]
    r = await api.post(
        f"/v1/escalations/{escalation['id']}/resolve",
        json={"action_taken": CANARIES["action_taken"], "outcome": CANARIES["outcome"]},
        headers=lead,
    )
    assert r.status_code == 200, r.text
    r = await api.post(
        f"/v1/interactions/{iid}/resolve", json={"resolution": CANARIES["resolution"]}, headers=ben
    )
    assert r.status_code == 200, r.text

    # The text is where people need it: in the API, from the database.
    body = (await api.get(f"/v1/interactions/{iid}", headers=lead)).text
    for text in CANARIES.values():
        assert text in body

    # And nowhere in Temporal: inputs, update arguments, results, search attributes, summaries,
    # of the interaction and of its escalation.
    handle = client.get_workflow_handle(created["workflow_id"])
    exported = await history_text(handle)
    # The export is the real thing: decoded payloads (attempt outcomes, activity names) are there.
    assert "record_attempt" in exported and "no_answer" in exported and "sync_interaction" in exported
    esc_history = await history_text(client.get_workflow_handle(escalation["workflow_id"]))
    assert "sync_escalation" in esc_history and "escalation_resolved" in esc_history
    for name, text in CANARIES.items():
        marker = text.split()[0]
        assert marker not in exported, f"{name} text leaked into the interaction's workflow history"
        assert marker not in esc_history, f"{name} text leaked into the escalation's workflow history"
