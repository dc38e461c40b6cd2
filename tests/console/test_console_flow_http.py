"""Work in flow and the first run, over plain HTTP (issue 25 items 9 and 10): an attempt recorded
from the queue row, Save and next, `replied` in plain words, `GET /`, the favicon, `make run PORT=`."""

from __future__ import annotations

import html
import os
import re
import subprocess
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from api.console.queues import next_case
from cli.main import app as cli_app
from tests.api.support import SYSTEM, create, detail, setup_team, zone_abbr, zone_where_it_is
from tests.console.test_console_http import signed_in

ROOT = Path(__file__).resolve().parents[2]


def plain(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_server_address_leads_to_the_console_and_has_an_icon(api: httpx.AsyncClient) -> None:
    r = await api.get("/")
    assert r.status_code in (302, 303, 307) and r.headers["location"] == "/console"
    icon = await api.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in icon.content
    page = await api.get("/console/sign-in")
    assert '<link rel="icon" href="/console/static/favicon.svg"' in page.text
    assert (await api.get("/console/static/favicon.svg")).status_code == 200


def test_make_run_takes_the_ports() -> None:
    dry = subprocess.run(
        ["make", "-n", "run", "PORT=8080", "TEMPORAL_PORT=7300", "UI_PORT=8300"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in dry.stdout.splitlines() if "followthrough dev" in x)
    assert "--port 8080" in line and "--temporal-port 7300" in line and "--ui-port 8300" in line
    # Only make's command line moves them: a HOST or PORT the shell exports does not.
    plain_run = subprocess.run(
        ["make", "-n", "run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "HOST": "some-machine", "PORT": "1"},
    )
    assert "dev --host 127.0.0.1 --port 8000 " in plain_run.stdout
    helped = CliRunner().invoke(cli_app, ["dev", "--help"])
    assert all(flag in helped.output for flag in ("--port", "--temporal-port", "--ui-port", "--host"))
    assert "make run PORT=" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_replied_reads_as_we_texted_them(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    case = await create(api, channel="text")
    ana = await signed_in(api, "t-chw-ana")
    page = await api.get(f"/console/interactions/{case['id']}", headers={"Cookie": ana["Cookie"]})
    assert '<option value="replied">texted (no call)</option>' in page.text
    r = await api.post(
        f"/console/interactions/{case['id']}/attempt",
        data={"outcome": "replied", "csrf": ana["csrf"], "key": "replied-1"},
        headers={"Cookie": ana["Cookie"]},
    )
    assert r.status_code == 303
    page = await api.get(f"/console/interactions/{case['id']}", headers={"Cookie": ana["Cookie"]})
    words = plain(page.text)
    assert "Texted (no call) at" in words  # the case's state, in words
    assert "texted (no call)" in words.split("Attempts", 1)[1]  # the attempts table
    assert not re.search(r"\breplied\b", words)
    assert [a["outcome"] for a in (await detail(api, case["id"]))["attempts"]] == [
        "replied"
    ]  # the API's word


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_an_attempt_is_recorded_from_the_queue_row(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    case = await create(api)
    ana = await signed_in(api, "t-chw-ana")
    queue = await api.get("/console/queue", headers={"Cookie": ana["Cookie"]})
    form = re.search(
        rf'<form method="post" action="/console/interactions/{case["id"]}/attempt".*?</form>',
        queue.text,
        re.S,
    )
    assert form is not None, "the row has its own attempt form"
    assert 'name="back" value="mine"' in form.group(0)
    assert f'<select id="quick-outcome-{case["id"]}" name="outcome" required' in form.group(0)
    assert f'href="/console/interactions/{case["id"]}?from=mine"' in queue.text
    key = re.search(r'name="key" value="([^"]+)"', form.group(0))
    assert key is not None
    r = await api.post(
        f"/console/interactions/{case['id']}/attempt",
        data={"outcome": "no_answer", "csrf": ana["csrf"], "key": key.group(1), "back": "mine"},
        headers={"Cookie": ana["Cookie"]},
    )
    assert r.status_code == 303 and r.headers["location"] == "/console/queue?done=attempt"
    back = await api.get(r.headers["location"], headers={"Cookie": ana["Cookie"]})
    assert "Attempt recorded." in back.text
    assert [a["outcome"] for a in (await detail(api, case["id"]))["attempts"]] == ["no_answer"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_save_and_next_goes_to_the_next_case_of_the_queue(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    first = await create(api, summary="first")
    second = await create(api, summary="second")
    ana = await signed_in(api, "t-chw-ana")
    cookie = {"Cookie": ana["Cookie"]}
    queue = await api.get("/console/queue", headers=cookie)
    order = re.findall(r'id="open-([0-9a-f]+)"', queue.text)
    assert set(order) == {first["id"], second["id"]}
    top, other = order
    page = await api.get(f"/console/interactions/{top}?from=mine", headers=cookie)
    assert ">Save and next</button>" in page.text and ">Close case and next</button>" in page.text
    assert '<input type="hidden" name="from" value="mine">' in page.text
    # Opened without a queue (a link from elsewhere): no "next" to go to.
    assert "Save and next" not in (await api.get(f"/console/interactions/{top}", headers=cookie)).text

    r = await api.post(
        f"/console/interactions/{top}/attempt",
        data={"outcome": "reached", "csrf": ana["csrf"], "key": "n1", "from": "mine", "then": "next"},
        headers=cookie,
    )
    assert r.status_code == 303
    r = await api.get(r.headers["location"], headers=cookie)
    assert r.status_code == 303 and r.headers["location"].startswith(
        f"/console/interactions/{other}?from=mine"
    )
    arrived = await api.get(r.headers["location"], headers=cookie)
    assert "Attempt recorded. This is the next case in your queue." in arrived.text
    assert [a["outcome"] for a in (await detail(api, top))["attempts"]] == ["reached"]

    # Resolving the last open case with "next": back to the queue, which says so.
    r = await api.post(
        f"/console/interactions/{top}/resolve",
        data={"resolution": "Done", "csrf": ana["csrf"], "key": "n2", "from": "mine", "then": "next"},
        headers=cookie,
    )
    r = await api.get(r.headers["location"], headers=cookie)
    assert r.headers["location"].startswith(f"/console/interactions/{other}?from=mine")
    r = await api.post(
        f"/console/interactions/{other}/attempt",
        data={"outcome": "reached", "csrf": ana["csrf"], "key": "n3"},
        headers=cookie,
    )
    r = await api.post(
        f"/console/interactions/{other}/resolve",
        data={"resolution": "Done", "csrf": ana["csrf"], "key": "n4", "from": "mine", "then": "next"},
        headers=cookie,
    )
    r = await api.get(r.headers["location"], headers=cookie)
    assert r.headers["location"] == "/console/queue?done=queue-done-resolved"
    done = await api.get(r.headers["location"], headers=cookie)
    assert "Interaction resolved. Nothing else is open in this queue." in done.text
    assert (await detail(api, other))["status"] == "resolved"


def test_next_case_follows_the_queue_order() -> None:
    assert next_case(["a", "b", "c"], "a", None) == "b"
    assert next_case(["a", "b", "c"], "c", None) == "a"  # from the top again past the end
    assert next_case(["b", "c"], "a", "c") == "c"  # gone from the queue: the case that was next
    assert next_case(["b", "c"], "a", "x") == "b"
    assert next_case(["a"], "a", None) is None
    assert next_case([], "a", "b") is None


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_row_form_gets_the_contact_advice_when_it_opens(api: httpx.AsyncClient) -> None:
    await setup_team(api)
    ana = await signed_in(api, "t-chw-ana")
    for hour, warned in ((3, True), (12, False)):
        zone = zone_where_it_is(hour)
        r = await api.put(
            "/v1/teams/eastside/members/mem-1", json={"owner_id": "chw-ana", "timezone": zone}, headers=SYSTEM
        )
        assert r.status_code == 200, r.text
        case = await create(api)
        queue = await api.get("/console/queue", headers={"Cookie": ana["Cookie"]})
        assert f'hx-get="/console/interactions/{case["id"]}/advice"' in queue.text
        advice = await api.get(
            f"/console/interactions/{case['id']}/advice", headers={"Cookie": ana["Cookie"]}
        )
        text = html.unescape(advice.text)
        opens = f'it opens 08:00 <abbr title="{zone}">{zone_abbr(zone)}</abbr>'
        assert (f"Outside the member's contact window: {opens}" in text) is warned
        assert (f'<label for="quick-override-{case["id"]}">Override reason' in text) is warned
