"""Screenshots of every console view for docs/console.md: ``python -m tests.console.screenshots``.

Starts what the browser tests start (Temporal dev server, worker, API on a free port), adds the
demo team's people, members (names, numbers: ``config/demo_team.yaml``) and cases (``cli.demo``:
a safety escalation, a breached case, an unknown caller) and a repeat contact, and saves PNGs at
1280 px and 390 px into ``docs/console/``. Needs Debian's ``chromium`` and the dev extra.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict

import yaml
from playwright.async_api import ViewportSize, async_playwright
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from cli.demo import CASES
from config.production import DEMO_TEAM_FILE
from tests.api.support import SYSTEM, interaction_body
from tests.conftest import CHICAGO_TEAM, binary
from tests.console.conftest import Console, require_browser, serve_console, sign_in
from workflows.search_attributes import SEARCH_ATTRIBUTE_TYPES

TEAM_NUMBER = "+13125550100"
OUT = Path(__file__).resolve().parents[2] / "docs" / "console"
LEAD = {"Authorization": "Bearer t-lead"}
ANA = {"Authorization": "Bearer t-chw-ana"}
# The demo team's people (config/demo_team.yaml) under the test tokens' staff ids.
STAFF = {
    "mgr-1": ("Maria", "manager"),
    "lead-1": ("Lee", "lead"),
    "chw-ana": ("Ana", "chw"),
    "chw-ben": ("Ben", "chw"),
}


class PageSize(TypedDict):
    """The page options each screenshot's browser context is opened with."""

    viewport: ViewportSize


# Where some demo members live (the rest in the team's zone): their clocks and windows differ.
ZONES = {"mem-1002": "America/Denver", "mem-1005": "America/New_York", "mem-1009": "America/Los_Angeles"}


async def case(console: Console, **over: Any) -> str:
    over.setdefault("external_id", f"ext-{uuid.uuid4().hex[:10]}")
    r = await console.api.post("/v1/interactions", json=interaction_body(**over), headers=SYSTEM)
    if r.status_code >= 400:
        raise RuntimeError(f"{r.status_code}: {r.text}")
    created: str = r.json()["id"]
    return created


async def people(console: Console) -> None:
    """The demo team's names, members with names and numbers, and repeat contacts merged."""
    api = console.api
    r = await api.put(
        "/v1/teams/eastside",
        json={**CHICAGO_TEAM, "name": "Eastside CHWs", "phone_numbers": [TEAM_NUMBER]},
        headers=SYSTEM,
    )
    r.raise_for_status()
    for staff_id, (name, role) in STAFF.items():
        r = await api.put(
            f"/v1/teams/eastside/staff/{staff_id}", json={"name": name, "role": role}, headers=SYSTEM
        )
        r.raise_for_status()
    demo = yaml.safe_load(DEMO_TEAM_FILE.read_text())
    for m in demo["members"]:
        body = {
            "owner_id": m["owner_id"],
            "display_name": m["display_name"],
            "phone": m["phone"],
            "timezone": ZONES.get(m["id"], "America/Chicago"),
            "preferred_language": "es-MX" if m["id"] == "mem-1001" else "en",
        }
        r = await api.put(f"/v1/teams/eastside/members/{m['id']}", json=body, headers=SYSTEM)
        r.raise_for_status()


async def seed(console: Console) -> dict[str, str]:
    """The demo cases (``cli.demo.CASES``: every state, a safety escalation, a breached case, an
    unknown caller) and a repeat contact after the first response; their ids by external id."""
    await people(console)
    now = datetime.now(UTC)
    ids: dict[str, str] = {}
    for c in CASES:
        if c.member_id is None:  # a caller the team does not know: through the phone system
            body = {"to": TEAM_NUMBER, "from": c.caller_phone, "channel": c.channel, "at": now.isoformat()}
            r = await console.api.post(
                "/v1/inbound", json={**body, "provider_id": c.external_id}, headers=SYSTEM
            )
            r.raise_for_status()
            continue
        received = now - timedelta(days=7) if c.received == "a week ago" else now - timedelta(minutes=20)
        ids[c.external_id] = await case(
            console,
            external_id=c.external_id,
            member_id=c.member_id,
            channel=c.channel,
            summary=c.summary,
            urgent=c.urgent,
            received_at=received.isoformat(),
        )
        iid = ids[c.external_id]
        if c.attempt is not None:
            body = {"outcome": c.attempt, "note": "Rang twice" if c.attempt == "no_answer" else None}
            r = await console.api.post(f"/v1/interactions/{iid}/attempts", json=body, headers=ANA)
            r.raise_for_status()
        if c.flag is not None:
            r = await console.api.post(f"/v1/interactions/{iid}/flags", json={"flag": c.flag}, headers=ANA)
            r.raise_for_status()
        if c.resolution is not None:
            body = {"resolution": c.resolution}
            r = await console.api.post(f"/v1/interactions/{iid}/resolve", json=body, headers=ANA)
            r.raise_for_status()
    # A repeat contact: a case answered (reached), then the member texted again (docs/rules.md §2.10).
    again = await case(
        console,
        external_id="demo-again",
        member_id="mem-1007",
        channel="call",
        summary="Asked about the bus pass",
        received_at=(now - timedelta(hours=2)).isoformat(),
    )
    r = await console.api.post(f"/v1/interactions/{again}/attempts", json={"outcome": "reached"}, headers=ANA)
    r.raise_for_status()
    body = {
        "external_id": "demo-again-2",
        "member_id": "mem-1007",
        "channel": "text",
        "summary": "Texted again",
    }
    r = await console.api.post("/v1/interactions", json=interaction_body(**body), headers=SYSTEM)
    r.raise_for_status()
    ids["demo-again"] = again
    return ids


async def escalation_of(console: Console, iid: str) -> str:
    """The id of the case's first escalation, once the workflow has started it."""
    for _ in range(50):
        r = await console.api.get(f"/v1/interactions/{iid}", headers=SYSTEM)
        r.raise_for_status()
        found = r.json()["escalations"]
        if found:
            eid: str = found[0]["id"]
            return eid
        await asyncio.sleep(0.2)
    raise RuntimeError("the safety escalation did not start")


async def main() -> None:
    path = require_browser()
    OUT.mkdir(parents=True, exist_ok=True)
    extra: list[str] = []
    for name, kind in SEARCH_ATTRIBUTE_TYPES.items():
        extra += ["--search-attribute", f"{name}={kind}"]
    async with await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=binary("temporal"),
        dev_server_extra_args=extra,
        ui=False,
    ) as env:
        with tempfile.TemporaryDirectory() as tmp:
            async with serve_console(env.client, Path(tmp)) as console, async_playwright() as pw:
                ids = await seed(console)
                safety = await escalation_of(console, ids["demo-safety"])
                await asyncio.sleep(1)
                browser = await pw.chromium.launch(executable_path=path, args=["--no-sandbox"])
                size: PageSize = {"viewport": {"width": 1280, "height": 800}}
                phone_size: PageSize = {"viewport": {"width": 390, "height": 844}}
                anon = await browser.new_page(**size)
                await anon.goto(f"{console.base}/console")
                await anon.screenshot(path=OUT / "sign-in.png")
                ana = await sign_in(browser, console, "t-chw-ana", **size)
                await ana.screenshot(path=OUT / "my-queue.png", full_page=True)
                await ana.goto(f"{console.base}/console/interactions/{ids['demo-safety']}")
                await ana.screenshot(path=OUT / "interaction.png", full_page=True)
                await ana.goto(f"{console.base}/console/interactions/{ids['demo-again']}")
                await ana.screenshot(path=OUT / "repeat-contact.png", full_page=True)
                lead = await sign_in(browser, console, "t-lead", **size)
                await lead.screenshot(path=OUT / "overview.png", full_page=True)
                for name in ("unassigned", "team", "escalations", "report"):
                    await lead.goto(f"{console.base}/console/{name}")
                    await lead.screenshot(path=OUT / f"{name}.png", full_page=True)
                await lead.goto(f"{console.base}/console/escalations/{safety}")
                await lead.screenshot(path=OUT / "escalation.png", full_page=True)
                await lead.goto(f"{console.base}/console/absences")
                await lead.get_by_label("Staff").select_option("chw-ana")
                await lead.get_by_label("Backup").select_option("chw-ben")
                start = datetime.now(UTC) + timedelta(days=2)
                await lead.get_by_label("Starts").fill(start.strftime("%Y-%m-%dT09:00"))
                await lead.get_by_label("Ends").fill((start + timedelta(days=2)).strftime("%Y-%m-%dT17:00"))
                await lead.get_by_role("button", name="Preview").click()
                await lead.wait_for_selector("section.preview")
                await lead.screenshot(path=OUT / "absences.png", full_page=True)
                phone = await sign_in(browser, console, "t-chw-ana", **phone_size)
                await phone.screenshot(path=OUT / "phone-my-queue.png", full_page=True)
                await phone.goto(f"{console.base}/console/interactions/{ids['demo-safety']}")
                await phone.screenshot(path=OUT / "phone-interaction.png")  # the first screen
                lead_phone = await sign_in(browser, console, "t-lead", **phone_size)
                await lead_phone.screenshot(path=OUT / "phone-overview.png", full_page=True)
                await lead_phone.goto(f"{console.base}/console/escalations/{safety}")
                await lead_phone.screenshot(path=OUT / "phone-escalation.png", full_page=True)
                await browser.close()
    print(f"screenshots in {OUT}")


if __name__ == "__main__":
    asyncio.run(main())
