"""Issue 25 in a real browser: an open safety escalation reaches the page title and the
navigation of a page without live parts, with no reload; on a phone the case page puts whom to
call (name, number, their time) above the forms, the full card below them; axe passes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import expect

from tests.api.support import LEAD, SYSTEM, zone_where_it_is
from tests.console.conftest import Console, laid_out, sign_in
from tests.console.test_console_browser import axe_violations, start_case

pytestmark = pytest.mark.timeout(180)


async def test_a_new_safety_escalation_reaches_the_title_and_navigation_without_a_reload(
    console_server: Console, browser: Any
) -> None:
    page = await sign_in(browser, console_server, "t-lead")
    await page.goto(f"{console_server.base}/console/absences")  # a page with no live parts
    await expect(page).to_have_title("Absences · Followthrough")
    await page.wait_for_timeout(300)  # the event stream is connected
    case = await start_case(console_server, summary="Partner threatened her")
    r = await console_server.api.post(
        f"/v1/interactions/{case['id']}/flags", json={"flag": "safety"}, headers=LEAD
    )
    assert r.status_code == 200, r.text
    await expect(page).to_have_title("⚠ 1 safety · Absences · Followthrough")
    nav = page.get_by_role("navigation", name="Console")
    await expect(nav.get_by_role("link", name=re.compile("^Escalations"))).to_contain_text(
        "⚠ 1 safety not acknowledged"
    )
    assert await axe_violations(page) == []
    await page.context.close()


async def test_on_a_phone_the_number_to_call_comes_before_the_forms(
    console_server: Console, browser: Any
) -> None:
    profile = {
        "owner_id": "chw-ana",
        "display_name": "Rosa Delgado",
        "phone": "+13125550111",
        "timezone": zone_where_it_is(12),
    }
    r = await console_server.api.put("/v1/teams/eastside/members/mem-rosa", json=profile, headers=SYSTEM)
    assert r.status_code == 200, r.text
    case = await start_case(console_server, member_id="mem-rosa", summary="Asked about her ride")

    phone = await sign_in(browser, console_server, "t-chw-ana", viewport={"width": 390, "height": 844})
    await phone.goto(f"{console_server.base}/console/interactions/{case['id']}")
    line = phone.locator("#member-line")
    await expect(line).to_contain_text("Rosa Delgado")
    # 12:xx when the zone was chosen; 13:xx if the hour turned since.
    await expect(line).to_contain_text(re.compile(r"their time 1[23]:\d\d .* window open until 21:00"))
    call = line.get_by_role("link", name="Call +1 312-555-0111")
    await expect(call).to_have_attribute("href", "tel:+13125550111")
    line_box, form_box, card_box = await laid_out(
        phone,
        line,
        phone.get_by_role("heading", name="Record attempt"),
        phone.get_by_role("region", name="Rosa Delgado"),
    )
    assert line_box["y"] + line_box["height"] <= form_box["y"] < card_box["y"]
    assert line_box["y"] < 400, "whom to call is on the first screen"
    assert await axe_violations(phone) == []
    await phone.context.close()

    # On a wide screen the card is beside the forms; the line is not repeated.
    desk = await sign_in(browser, console_server, "t-chw-ana", viewport={"width": 1280, "height": 900})
    await desk.goto(f"{console_server.base}/console/interactions/{case['id']}")
    await expect(desk.get_by_role("region", name="Rosa Delgado")).to_be_visible()
    await expect(desk.locator("#member-line")).to_be_hidden()
    await desk.context.close()
