"""The member card in a real browser (issue 21; issue 25 item 5): a CHW goes from the queue row
to the case page, sees whom to call, is warned before texting a member who refused texts, and
the page passes axe at desktop and phone widths."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import expect

from tests.api.support import SYSTEM, zone_where_it_is
from tests.console.conftest import Console, sign_in
from tests.console.test_console_browser import axe_violations, start_case

pytestmark = pytest.mark.timeout(180)

NAME = "Rosa Delgado"
PHONE = "+13125550111"


async def test_the_case_page_shows_the_member_to_call_and_passes_axe(
    console_server: Console, browser: Any
) -> None:
    profile = {
        "owner_id": "chw-ana",
        "display_name": NAME,
        "phone": PHONE,
        "timezone": zone_where_it_is(12),
        "preferred_language": "es-MX",
        "preferred_channel": "call",
        "consent": {
            "call": {"status": "granted", "at": "2026-01-05", "source": "intake form"},
            "text": {"status": "refused", "at": "2026-01-06", "source": "STOP"},
        },
    }
    r = await console_server.api.put("/v1/teams/eastside/members/mem-rosa", json=profile, headers=SYSTEM)
    assert r.status_code == 200, r.text
    case = await start_case(console_server, member_id="mem-rosa", summary="Asked about her ride")
    other = await start_case(console_server, member_id="mem-rosa", channel="voicemail", summary="Voicemail")

    page = await sign_in(browser, console_server, "t-chw-ana")
    row = page.get_by_role("row").filter(has_text="Asked about her ride")
    await expect(row.get_by_role("link", name=NAME)).to_be_visible()
    await expect(row.get_by_role("link", name="Call +1 312-555-0111")).to_have_attribute(
        "href", f"tel:{PHONE}"
    )
    await expect(row).to_contain_text("no texts")
    await expect(row).to_contain_text("window open until 21:00")
    assert await axe_violations(page) == []

    await row.get_by_role("link", name=NAME).click()
    await page.wait_for_url(f"**/console/interactions/{case['id']}*")  # ?from=mine
    await expect(page).to_have_title("Rosa D. · missed call · Followthrough")
    card = page.get_by_role("region", name=NAME)
    await expect(card.get_by_role("link", name="Call +1 312-555-0111")).to_have_attribute(
        "href", f"tel:{PHONE}"
    )
    await expect(card).to_contain_text("no texts: the member refused them")
    await expect(card).to_contain_text("contacted 1 time")
    await expect(card).to_contain_text("Spanish (es-MX)")
    await expect(card.get_by_role("link", name=re.compile("^voicemail · received"))).to_have_attribute(
        "href", f"/console/interactions/{other['id']}"
    )
    assert await axe_violations(page) == []

    channel = page.get_by_label("Contacted by")
    await expect(channel).to_have_accessible_description(re.compile("The member refused texts"))
    await channel.select_option("text")
    await page.get_by_label("Outcome").select_option("no_answer")
    await page.get_by_role("button", name="Record attempt").click()
    await expect(page.get_by_role("status")).to_have_text("Attempt recorded.")
    await expect(page.locator("#live")).to_contain_text("Texted after the member refused texts")
    r = await console_server.api.get(f"/v1/interactions/{case['id']}", headers=SYSTEM)
    [attempt] = r.json()["attempts"]
    assert (attempt["channel"], attempt["consent_refused"]) == ("text", True)
    await page.context.close()

    # On a phone: the card reflows (no sideways scrolling) and still passes axe.
    phone = await sign_in(browser, console_server, "t-chw-ana", viewport={"width": 375, "height": 740})
    await phone.goto(f"{console_server.base}/console/interactions/{case['id']}")
    await expect(phone.get_by_role("region", name=NAME)).to_be_visible()
    wide = await phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 1, f"the case page scrolls sideways by {wide}px on a phone"
    assert await axe_violations(phone) == []
    await phone.context.close()
