"""Screenshots of every console view for docs/console.md: ``python -m tests.console.screenshots``.

Starts what the browser tests start (Temporal dev server, worker, API on a free port), adds a few
cases, and saves PNGs into ``docs/console/``. Needs Debian's ``chromium`` and the dev extra.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.async_api import async_playwright
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.api.support import SYSTEM, interaction_body
from tests.conftest import binary
from tests.console.conftest import Console, require_browser, serve_console, sign_in
from workflows.search_attributes import SEARCH_ATTRIBUTE_TYPES

OUT = Path(__file__).resolve().parents[2] / "docs" / "console"
LEAD = {"Authorization": "Bearer t-lead"}
ANA = {"Authorization": "Bearer t-chw-ana"}


async def case(console: Console, **over: Any) -> str:
    over.setdefault("external_id", f"ext-{uuid.uuid4().hex[:10]}")
    r = await console.api.post("/v1/interactions", json=interaction_body(**over), headers=SYSTEM)
    r.raise_for_status()
    created: str = r.json()["id"]
    return created


async def seed(console: Console) -> str:
    now = datetime.now(UTC)
    first = await case(console, summary="Asked about the food bank on Tuesday", received_at=now.isoformat())
    await case(
        console,
        channel="voicemail",
        summary="Prescription refill question",
        received_at=(now - timedelta(days=3)).isoformat(),
    )
    await case(console, channel="text", summary="Wants a ride to the clinic")
    await case(console, member_id="mem-orphan", channel="text", summary="New member, no CHW yet")
    await case(console, member_id="mem-2", summary="Housing application follow-up")
    unsafe = await case(console, summary="Said they do not feel safe at home")
    r = await console.api.post(f"/v1/interactions/{unsafe}/flags", json={"flag": "safety"}, headers=LEAD)
    r.raise_for_status()
    r = await console.api.post(
        f"/v1/interactions/{first}/attempts", json={"outcome": "no_answer", "note": "Rang twice"}, headers=ANA
    )
    r.raise_for_status()
    return first


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
                first = await seed(console)
                await asyncio.sleep(1)
                browser = await pw.chromium.launch(executable_path=path, args=["--no-sandbox"])
                size = {"viewport": {"width": 1280, "height": 800}}
                anon = await browser.new_page(**size)
                await anon.goto(f"{console.base}/console")
                await anon.screenshot(path=OUT / "sign-in.png")
                ana = await sign_in(browser, console, "t-chw-ana", **size)
                await ana.screenshot(path=OUT / "my-queue.png", full_page=True)
                await ana.goto(f"{console.base}/console/interactions/{first}")
                await ana.screenshot(path=OUT / "interaction.png", full_page=True)
                lead = await sign_in(browser, console, "t-lead", **size)
                for name in ("unassigned", "team", "escalations", "report"):
                    await lead.goto(f"{console.base}/console/{name}")
                    await lead.screenshot(path=OUT / f"{name}.png", full_page=True)
                await lead.goto(f"{console.base}/console/absences")
                await lead.get_by_label("Staff").select_option("chw-ana")
                await lead.get_by_label("Backup").select_option("chw-ben")
                start = datetime.now(UTC) + timedelta(days=2)
                await lead.get_by_label("Starts").fill(start.strftime("%Y-%m-%dT09:00"))
                await lead.get_by_label("Ends").fill((start + timedelta(days=2)).strftime("%Y-%m-%dT17:00"))
                await lead.get_by_role("button", name="Preview").click()
                await lead.wait_for_selector("section.preview")
                await lead.screenshot(path=OUT / "absences.png", full_page=True)
                phone = await sign_in(browser, console, "t-chw-ana", viewport={"width": 390, "height": 844})
                await phone.screenshot(path=OUT / "phone-my-queue.png", full_page=True)
                await browser.close()
    print(f"screenshots in {OUT}")


if __name__ == "__main__":
    asyncio.run(main())
