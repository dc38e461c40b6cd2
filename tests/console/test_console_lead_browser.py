"""Issue 25's items 3, 6 and 8 in a real browser (Debian's chromium through Playwright, axe):
twenty escalations on one screen with live countdowns, sortable; a refused form that says what
is wrong beside the field and keeps the address; a lead's Team page, live navigation counts,
Team queue's filters and bulk reassign; the Report's late so far."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import expect

from tests.api.support import SYSTEM
from tests.console.conftest import Console, sign_in
from tests.console.test_console_browser import axe_violations, start_case

pytestmark = pytest.mark.timeout(240)

LEAD = {"Authorization": "Bearer t-lead"}


async def test_twenty_escalations_fit_one_screen_count_down_live_and_sort(
    console_server: Console, browser: Any
) -> None:
    tag = uuid.uuid4().hex[:6]
    for n in range(20):
        case = await start_case(console_server, member_id="mem-orphan", summary=f"Complaint {tag} {n}")
        r = await console_server.api.post(
            f"/v1/interactions/{case['id']}/flags", json={"flag": "complaint"}, headers=LEAD
        )
        assert r.status_code == 200, r.text
    page = await sign_in(browser, console_server, "t-lead", viewport={"width": 1280, "height": 900})
    await page.goto(f"{console_server.base}/console/escalations")
    rows = page.locator("tr.esc-row").filter(has_text=f"Complaint {tag}")
    await expect(rows).to_have_count(20, timeout=15_000)
    # One line each: twenty rows take less than one 900 px screen (they took 11,600 px as cards).
    measure = "() => document.querySelector('table.escalations').getBoundingClientRect().height"
    height = 0.0
    while not height:  # (0 while a live refresh is swapping the list in)
        height = await page.evaluate(measure)
    assert height < 900, f"twenty escalations take {height:.0f} px"
    for width in (1280, 1024, 390):  # and no sideways scrolling, down to a phone
        await page.set_viewport_size({"width": width, "height": 900})
        wide = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert wide <= 1, f"the escalations list scrolls sideways by {wide}px at {width}px"
    await page.set_viewport_size({"width": 1280, "height": 900})
    first = rows.first
    await expect(first).to_contain_text("complaint")
    await expect(first).to_contain_text("1 of 2")
    await expect(first).to_contain_text("(told)")
    # The countdown to the acknowledge deadline runs in the page.
    await expect(first.locator("time[data-countdown]")).to_have_text(
        re.compile(r"^Acknowledge by .+ · (in|.* late)")
    )
    assert await axe_violations(page) == []
    # Sorting by a column: the heading says so, and the live refresh keeps the order.
    await page.get_by_role("link", name="Member", exact=True).click()
    await expect(page).to_have_url(re.compile(r"sort=member"))
    await expect(page.get_by_role("columnheader", name="Member")).to_have_attribute("aria-sort", "ascending")
    await expect(page.locator("#live")).to_have_attribute(
        "hx-get", "/console/escalations?sort=member&part=list"
    )
    # A row opens the escalation's own page: its ladder and its forms.
    await rows.first.locator(".row-link").click()
    await expect(page.get_by_role("table", name="Ladder")).to_be_visible()
    await expect(page.get_by_role("button", name="Acknowledge")).to_be_visible()
    await expect(page.get_by_label("Action taken")).to_be_visible()
    assert await axe_violations(page) == []
    await page.context.close()


async def test_a_refused_form_says_why_beside_the_field_and_the_address_stays_on_the_page(
    console_server: Console, browser: Any
) -> None:
    case = await start_case(console_server, summary=f"Refused form {uuid.uuid4().hex[:6]}")
    page = await sign_in(browser, console_server, "t-chw-ana")
    url = f"{console_server.base}/console/interactions/{case['id']}"
    await page.goto(url)
    await page.get_by_label("Resolution").fill("   ")  # passes the browser's check, not the server's
    await page.get_by_role("button", name="Resolve").click()
    field = page.get_by_label("Resolution")
    await expect(field).to_have_accessible_description("Error: Resolution is required.")
    await expect(field).to_have_attribute("aria-invalid", "true")
    await expect(field).to_be_focused()
    await expect(page.locator("#resolution-error")).to_be_visible()
    assert page.url == url  # never the POST endpoint
    assert "Input should be" not in await page.content()
    assert await axe_violations(page) == []
    await page.reload()  # a reload reads the page again; it does not post the form twice
    assert page.url == url

    lead = await sign_in(browser, console_server, "t-lead")
    await lead.goto(f"{console_server.base}/console/absences")
    day = (datetime.now(UTC) + timedelta(days=5)).strftime("%Y-%m-%d")
    await lead.get_by_label("Starts").fill(f"{day}T17:00")
    await lead.get_by_label("Ends").fill(f"{day}T09:00")
    await lead.get_by_label("Reason").fill("Training day")
    await lead.get_by_role("button", name="Preview").click()
    ends = lead.get_by_label("Ends")
    await expect(ends).to_have_accessible_description("Error: Ends must be after Starts.")
    await expect(ends).to_have_value(f"{day}T09:00")
    await expect(lead.get_by_label("Reason")).to_have_value("Training day")
    assert lead.url == f"{console_server.base}/console/absences"
    assert await axe_violations(lead) == []
    await page.context.close()
    await lead.context.close()


async def test_a_lead_lands_on_the_team_page_sees_live_counts_and_reassigns_in_bulk(
    console_server: Console, browser: Any
) -> None:
    tag = uuid.uuid4().hex[:6]
    old = (datetime.now(UTC) - timedelta(days=8)).isoformat()
    await start_case(console_server, received_at=old, summary=f"Breached {tag}")  # Ana's
    page = await sign_in(browser, console_server, "t-lead")
    assert page.url.endswith("/console/overview")
    await expect(page.get_by_role("heading", name="Team", exact=True)).to_be_visible()
    ana = page.locator("#load-chw-ana")
    await expect(
        ana.get_by_role("link", name=re.compile(r"^\d+$")).first
    ).to_be_visible()  # breached, as a link
    assert await axe_violations(page) == []

    unassigned = page.get_by_role("navigation").locator('[data-count="unassigned"]')
    before = int(await unassigned.inner_text())
    one = await start_case(console_server, member_id="mem-orphan", summary=f"Bulk one {tag}")
    two = await start_case(console_server, member_id="mem-orphan", summary=f"Bulk two {tag}")
    await expect(unassigned).to_have_text(str(before + 2), timeout=3_000)  # live, no reload

    await page.get_by_role("navigation").get_by_role("link", name="Team queue").click()
    await page.get_by_label("CHW").select_option("unassigned")
    await page.get_by_role("button", name="Filter").click()
    await expect(page).to_have_url(re.compile(r"assignee=unassigned"))
    await expect(page.get_by_role("row").filter(has_text=f"Breached {tag}")).to_have_count(0)
    for case in (one, two):
        row = page.get_by_role("row").filter(has=page.locator(f"#open-{case['id']}"))
        await expect(row.locator("td.assignee")).to_have_text("Unassigned")
        await row.get_by_role("checkbox").check()
    await page.get_by_label("Reassign selected to").select_option("chw-ben")
    await page.get_by_role("button", name="Reassign selected").click()
    await expect(page.get_by_role("status")).to_have_text("Assignment saved.")
    await expect(page).to_have_url(re.compile(r"assignee=unassigned"))  # the filter is kept
    for case in (one, two):
        r = await console_server.api.get(f"/v1/interactions/{case['id']}", headers=SYSTEM)
        assert r.json()["assignee_id"] == "chw-ben"
    assert await axe_violations(page) == []

    await page.get_by_role("navigation").get_by_role("link", name="Report").click()
    # Named by its title and its figures: the breached case counts as late so far.
    chart = page.get_by_role(
        "img",
        name=re.compile(r"On time, late and late so far.*call: on time \d+, late \d+, late so far [1-9]"),
    )
    await expect(chart).to_be_visible()
    await expect(page.locator("#contact-rules")).to_contain_text("Attempts over the daily cap")
    await page.context.close()
