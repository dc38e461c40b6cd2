"""The console works under its Content-Security-Policy (issue 23) in a real browser: live
updates (server-sent events + htmx swaps), forms and every page, with no CSP violation."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.async_api import expect

from tests.console.conftest import Console, sign_in
from tests.console.test_console_browser import start_case

pytestmark = pytest.mark.timeout(180)

# Runs before any page script (injected by the browser, not subject to the page's CSP).
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


async def test_the_console_runs_under_its_csp_without_a_violation(
    console_server: Console, browser: Any
) -> None:
    page = await sign_in(browser, console_server, "t-lead")
    await page.context.add_init_script(RECORD_VIOLATIONS)
    messages: list[str] = []
    page.on("console", lambda m: messages.append(m.text))
    await page.reload()
    response = await page.goto(f"{console_server.base}/console/unassigned")
    assert response is not None
    assert "frame-ancestors 'none'" in (await response.all_headers())["content-security-policy"]
    await page.wait_for_timeout(300)  # the event stream is connected

    summary = f"CSP check {uuid.uuid4().hex[:6]}"
    case = await start_case(console_server, member_id="mem-orphan", summary=summary)
    row = page.get_by_role("row").filter(has_text=summary)
    await expect(row).to_be_visible(timeout=3_000)  # live: SSE then an htmx swap

    await page.goto(f"{console_server.base}/console/interactions/{case['id']}")
    await page.get_by_label("Outcome").select_option("no_answer")
    await page.get_by_role("button", name="Record attempt").click()
    await expect(page.get_by_role("status")).to_have_text("Attempt recorded.")

    violations: list[str] = []
    for path in ("queue", "team", "escalations", "absences", "report", f"interactions/{case['id']}"):
        await page.goto(f"{console_server.base}/console/{path}")
        await page.wait_for_load_state("networkidle")
        violations += await page.evaluate("window.__csp")
    assert violations == [], violations
    assert not [m for m in messages if "Content Security Policy" in m], messages
    await page.context.close()
