"""Work in flow in a real browser (issue 25 item 9 and the live refresh's focus): an attempt from
the queue row, Save and next, the case page's forms first on a phone, the focus kept through
live updates."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.api.support import ANA, SYSTEM, zone_abbr, zone_where_it_is
from tests.console.conftest import Console, laid_out, sign_in
from tests.console.test_console_browser import axe_violations, start_case

pytestmark = pytest.mark.timeout(180)


async def focused_id(page: Page) -> str:
    found: str = await page.evaluate("document.activeElement ? document.activeElement.id : ''")
    return found


async def test_an_attempt_from_the_queue_row_survives_live_updates(
    console_server: Console, browser: Any
) -> None:
    summary = f"Row attempt {uuid.uuid4().hex[:6]}"
    case = await start_case(console_server, summary=summary)
    page = await sign_in(browser, console_server, "t-chw-ana")
    row = page.get_by_role("row").filter(has_text=summary)
    await expect(row).to_be_visible()
    # The c key opens the row's form and records nothing.
    await page.locator(f"#open-{case['id']}").focus()
    await page.keyboard.press("c")
    outcome = row.get_by_label("Outcome")
    await expect(outcome).to_be_focused()
    r = await console_server.api.get(f"/v1/interactions/{case['id']}", headers=SYSTEM)
    assert r.json()["attempts"] == []
    await outcome.select_option(label="texted (no call)")
    await row.get_by_label("Note").fill("Sent the pantry hours")
    await outcome.focus()

    # Another case arrives: the list is drawn again, the form stays open as typed, focus stays.
    other = await start_case(console_server, summary=f"Arrives meanwhile {uuid.uuid4().hex[:6]}")
    await expect(page.locator(f"#open-{other['id']}")).to_be_visible(timeout=3_000)
    await expect(outcome).to_be_visible()
    await expect(outcome).to_have_value("replied")
    await expect(row.get_by_label("Note")).to_have_value("Sent the pantry hours")
    await expect(outcome).to_be_focused()
    assert await axe_violations(page) == []

    await row.get_by_role("button", name="Record attempt").click()
    await expect(page.get_by_role("status")).to_have_text("Attempt recorded.")
    await expect(page).to_have_url(re.compile(r"/console/queue\?done=attempt$"))
    r = await console_server.api.get(f"/v1/interactions/{case['id']}", headers=SYSTEM)
    assert [a["outcome"] for a in r.json()["attempts"]] == ["replied"]
    await page.context.close()


async def test_focus_moves_to_the_next_row_when_its_case_leaves_the_list(
    console_server: Console, browser: Any
) -> None:
    cases = [await start_case(console_server, summary=f"Leaves {n} {uuid.uuid4().hex[:6]}") for n in range(3)]
    page = await sign_in(browser, console_server, "t-chw-ana")
    links = page.locator("[data-row] .row-link")
    for c in cases:
        await expect(page.locator(f"#open-{c['id']}")).to_be_visible()
    ids = [i.removeprefix("open-") for i in await links.evaluate_all("els => els.map(e => e.id)")]
    # The three share a deadline, so their order is not fixed: take the first of them shown,
    # which always has a row after it.
    gone = next(i for i in ids if i in {c["id"] for c in cases})
    after = ids[ids.index(gone) + 1]
    await page.locator(f"#open-{gone}").focus()
    # Someone else resolves the case in focus: its row leaves the list.
    r = await console_server.api.post(
        f"/v1/interactions/{gone}/attempts", json={"outcome": "reached"}, headers=ANA
    )
    assert r.status_code == 200, r.text
    r = await console_server.api.post(
        f"/v1/interactions/{gone}/resolve", json={"resolution": "Done"}, headers=ANA
    )
    assert r.status_code == 200, r.text
    await expect(page.locator(f"#open-{gone}")).to_have_count(0, timeout=3_000)
    await expect(page.locator(f"#open-{after}")).to_be_focused()
    await page.context.close()


async def test_save_and_next_moves_to_the_next_case_in_the_queue(
    console_server: Console, browser: Any
) -> None:
    first = await start_case(console_server, summary=f"Save and next A {uuid.uuid4().hex[:6]}")
    await start_case(console_server, summary=f"Save and next B {uuid.uuid4().hex[:6]}")
    page = await sign_in(browser, console_server, "t-chw-ana")
    await page.locator(f"#open-{first['id']}").click()
    await page.wait_for_url(f"**/console/interactions/{first['id']}?from=mine")
    await page.get_by_label("Outcome").select_option("no_answer")
    await page.get_by_role("button", name="Save and next").click()
    await expect(page.get_by_role("status")).to_have_text(
        "Attempt recorded. This is the next case in your queue."
    )
    await expect(page).to_have_url(
        re.compile(r"/console/interactions/(?!" + first["id"] + r")[0-9a-f]+\?from=mine")
    )
    r = await console_server.api.get(f"/v1/interactions/{first['id']}", headers=SYSTEM)
    assert [a["outcome"] for a in r.json()["attempts"]] == ["no_answer"]
    # The next case offers the same, so a CHW goes through the queue without going back to it.
    await expect(page.get_by_role("button", name="Save and next")).to_be_visible()
    await expect(page.get_by_role("button", name="Close case and next")).to_be_visible()
    await page.context.close()


async def test_on_a_phone_the_action_forms_come_first(console_server: Console, browser: Any) -> None:
    case = await start_case(console_server, summary=f"Phone case {uuid.uuid4().hex[:6]}")
    for outcome in ("no_answer", "busy"):
        r = await console_server.api.post(
            f"/v1/interactions/{case['id']}/attempts",
            json={"outcome": outcome, "note": "x" * 400},
            headers=ANA,
        )
        assert r.status_code == 200, r.text
    page = await sign_in(browser, console_server, "t-chw-ana", viewport={"width": 390, "height": 844})
    await page.goto(f"{console_server.base}/console/interactions/{case['id']}?from=mine")
    form = page.get_by_role("heading", name="Record attempt")
    attempts = page.get_by_role("heading", name="Attempts", exact=True)
    box, details = await laid_out(page, form, attempts)
    assert box["y"] < details["y"], "Record attempt comes before the case's details on a phone"
    assert box["y"] < 844, "Record attempt is on the first screen"
    assert await axe_violations(page) == []
    # At 1280 px the case stays on the left and the forms on the right.
    await page.set_viewport_size({"width": 1280, "height": 900})
    wide, left = await laid_out(page, form, attempts)
    assert wide["x"] > left["x"]
    await page.context.close()


async def test_the_row_form_warns_before_an_attempt_outside_the_members_window(
    console_server: Console, browser: Any
) -> None:
    zone = zone_where_it_is(3)  # outside every member's window
    r = await console_server.api.put(
        "/v1/teams/eastside/members/mem-night", json={"owner_id": "chw-ana", "timezone": zone}, headers=SYSTEM
    )
    assert r.status_code == 200, r.text
    summary = f"Night owl {uuid.uuid4().hex[:6]}"
    case = await start_case(console_server, member_id="mem-night", summary=summary)
    page = await sign_in(browser, console_server, "t-chw-ana")
    row = page.get_by_role("row").filter(has_text=summary)
    await row.get_by_text("Record attempt").first.click()
    warning = row.locator(".warning")
    await expect(warning).to_contain_text(
        f"Outside the member's contact window: it opens 08:00 {zone_abbr(zone)}"
    )
    # The warning comes before the outcome, as on the case page.
    box, outcome_box = await laid_out(page, warning, row.get_by_label("Outcome"))
    assert box["y"] < outcome_box["y"]
    # A case arriving meanwhile refreshes the queue: the open form stays open, with its warning.
    arriving = f"Arrives meanwhile {uuid.uuid4().hex[:6]}"
    await start_case(console_server, summary=arriving)
    await expect(page.get_by_role("row").filter(has_text=arriving)).to_have_count(1)
    await expect(warning).to_contain_text("Outside the member's contact window")
    await row.get_by_label("Override reason").fill("She asked for a call at night")
    await row.get_by_label("Outcome").select_option("no_answer")
    await row.get_by_role("button", name="Record attempt").click()
    await expect(page.get_by_role("status")).to_have_text("Attempt recorded.")
    r = await console_server.api.get(f"/v1/interactions/{case['id']}", headers=SYSTEM)
    [attempt] = r.json()["attempts"]
    assert attempt["outside_contact_window"] is True
    assert attempt["override_reason"] == "She asked for a call at night"
    await page.context.close()
