"""Restore: the database is restored from a backup taken under load, and the read model is brought
back to Temporal.

Cases are opened (some flagged ``complaint``, which escalates) while a CHW is away and her backup
covers; the database is backed up (SQLite's online backup, or ``pg_dump``); the work goes on
(more cases, attempts, resolves, acknowledgements); the API and worker stop, the backup is
restored, and they start again, as an operator restoring a database would. Then:

1. every action on a case whose (old) row survived answers 2xx within 10 s, before any repair
   (a 503 with ``Retry-After`` repeated under its key is fine): nothing wedges on an old row;
2. ``followthrough reconcile`` runs once and prints its differences;
3. every case's workflow and row agree (status, assignee, version, attempts, open escalations),
   the cases opened after the backup included (their rows are made again from Temporal);
4. one more action on every open case answers 2xx within 10 s, and they still agree;
5. idle histories do not grow (a case wedged on its projection grows ~24 events a minute).

Run: ``python -m drills.restore [--cases 30] [--db sqlite|postgres]``.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sqlite3
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client

from drills.common import (
    ROOT,
    SYSTEM,
    Api,
    Disagreement,
    Stack,
    Stats,
    TemporalReader,
    cli,
    compare,
    log,
    member_for,
    read_sql,
    stack,
    temporal_client,
    wait_ready,
)

LEAD = "drill-lead"
ACTION_SECONDS = 10.0


@dataclass
class Figures:
    """What the drill measured; ``ok`` when every check held."""

    cases: int = 0
    after_backup: int = 0
    actions_before_repair: list[float] = field(default_factory=list)
    actions_after_repair: list[float] = field(default_factory=list)
    non_2xx: list[str] = field(default_factory=list)
    reconcile_lines: list[str] = field(default_factory=list)
    reconcile_rc: int | None = None
    disagreements: list[Disagreement] = field(default_factory=list)
    grew: dict[str, int] = field(default_factory=dict)

    def ok(self) -> bool:
        slow = [s for s in self.actions_before_repair + self.actions_after_repair if s > ACTION_SECONDS]
        return not (self.non_2xx or slow or self.disagreements or self.grew or self.reconcile_rc)


# ---------------------------------------------------------------- backup and restore
def backup(s: Stack, into: Path) -> None:
    if s.db_url.startswith("sqlite"):
        src, dst = sqlite3.connect(_sqlite_path(s)), sqlite3.connect(into)
        with dst:
            src.backup(dst)
        src.close()
        dst.close()
        return
    _pg("pg_dump", "-Fc", "-f", str(into), _libpq(s.db_url))


def restore(s: Stack, from_: Path) -> None:
    """Stop the API and worker, restore the database, start them again."""
    s.api.stop()
    s.worker.stop()
    if s.db_url.startswith("sqlite"):
        src, dst = sqlite3.connect(from_), sqlite3.connect(_sqlite_path(s))
        with dst:
            src.backup(dst)
        src.close()
        dst.close()
    else:
        _pg(
            "pg_restore", "--clean", "--if-exists", "--single-transaction", "-d", _libpq(s.db_url), str(from_)
        )
    s.start_worker()
    s.start_api()


def _sqlite_path(s: Stack) -> str:
    return s.db_url.removeprefix("sqlite:///")


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _pg(tool: str, *args: str) -> None:
    from tests.postgres import _pg_bindir

    bindir = _pg_bindir()
    exe = str(bindir / tool) if bindir is not None else shutil.which(tool) or tool
    subprocess.run([exe, *args], check=True, capture_output=True, text=True)


# ---------------------------------------------------------------- the work
async def open_case(api: Api, external_id: str, member_id: str, *, flag: bool) -> dict[str, Any]:
    body = {
        "team_id": "eastside",
        "external_id": external_id,
        "member_id": member_id,
        "channel": "call",
        "received_at": datetime.now(UTC).isoformat(),
        "flags": ["complaint"] if flag else [],
    }
    r = await api.request("create", "POST", "/v1/interactions", token=SYSTEM, json_body=body)
    if r.status_code not in (200, 201):
        raise RuntimeError(f"create {external_id}: {r.status_code} {r.text[:200]}")
    case: dict[str, Any] = r.json()
    return case


async def act(api: Api, route: str, path: str, body: dict[str, Any], figures: Figures) -> float:
    """One action by the lead, repeated on 503 with its key; how long it took to its answer."""
    t0 = time.monotonic()
    r = await api.request(route, "POST", path, token=LEAD, json_body=body, key=uuid.uuid4().hex)
    took = time.monotonic() - t0
    if r.status_code != 200:
        figures.non_2xx.append(f"{route} {path}: {r.status_code} {r.text[:160]}")
    return took


async def go_on(api: Api, cases: list[dict[str, Any]], figures: Figures) -> None:
    """After the backup: attempts on some, resolves on others, the escalations acknowledged."""
    jobs = []
    for i, c in enumerate(cases):
        iid = c["id"]
        if c["escalations"]:
            esc = c["escalations"][0]["id"]
            jobs.append(act(api, "acknowledge", f"/v1/escalations/{esc}/acknowledge", {}, figures))
        elif i % 2 == 0:
            jobs.append(_attempt_then_resolve(api, iid, figures))
        else:
            jobs.append(
                act(api, "attempt", f"/v1/interactions/{iid}/attempts", {"outcome": "no_answer"}, figures)
            )
    await asyncio.gather(*jobs)


async def _attempt_then_resolve(api: Api, iid: str, figures: Figures) -> float:
    took = await act(api, "attempt", f"/v1/interactions/{iid}/attempts", {"outcome": "reached"}, figures)
    return took + await act(
        api, "resolve", f"/v1/interactions/{iid}/resolve", {"resolution": "drill: resolved"}, figures
    )


async def act_on_open(
    api: Api,
    client: Client,
    cases: list[dict[str, Any]],
    figures: Figures,
    into: list[float],
    *,
    rows: set[str],
) -> None:
    """An attempt (``reached``) on every case Temporal says is open and whose row exists."""
    reader = TemporalReader(client)
    states = await reader.cases(c["workflow_id"] for c in cases)
    jobs = [
        act(api, "attempt", f"/v1/interactions/{c['id']}/attempts", {"outcome": "reached"}, figures)
        for c in cases
        if states[c["workflow_id"]].execution == "running" and c["id"] in rows
    ]
    into.extend(await asyncio.gather(*jobs))


# ---------------------------------------------------------------- the audit
async def disagreements(
    s: Stack, client: Client, prefix: str, cases: list[dict[str, Any]]
) -> list[Disagreement]:
    """Temporal against SQL for every case: the drills' comparison, and the open escalations."""
    sql = read_sql(s, prefix)
    by_ext = {r.external_id: r for r in sql.rows}
    reader = TemporalReader(client)
    temporal = await reader.cases(c["workflow_id"] for c in cases)
    found: list[Disagreement] = []
    open_rows: dict[str, set[str]] = {}
    for iid, esc in s.sql("SELECT interaction_id, id FROM escalations WHERE status <> 'resolved'"):
        open_rows.setdefault(str(iid), set()).add(str(esc))
    for c in cases:
        wf = temporal[c["workflow_id"]]
        row = by_ext.get(c["external_id"])
        found += compare(c["external_id"], row, wf)
        if row is not None and wf.execution == "running" and wf.state is not None:
            wanted = {e.escalation_id for e in wf.state.escalations if e.status != "resolved"}
            have = open_rows.get(row.id, set())
            if wanted != have:
                found.append(Disagreement(c["external_id"], "open_escalations", sorted(have), sorted(wanted)))
    return found


async def converge(
    s: Stack, client: Client, prefix: str, cases: list[dict[str, Any]], within: float
) -> list[Disagreement]:
    deadline = time.monotonic() + within
    while True:
        found = await disagreements(s, client, prefix, cases)
        if not found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(1.0)


async def idle_growth(client: Client, cases: list[dict[str, Any]], seconds: float) -> dict[str, int]:
    """Events added to each running case's history over two idle windows (both must grow)."""
    reader = TemporalReader(client)
    states = await reader.cases(c["workflow_id"] for c in cases)
    running = [c["workflow_id"] for c in cases if states[c["workflow_id"]].execution == "running"]

    async def lengths() -> dict[str, int]:
        got = await asyncio.gather(*(client.get_workflow_handle(w).fetch_history() for w in running))
        return {w: len(h.events) for w, h in zip(running, got, strict=True)}

    first = await lengths()
    await asyncio.sleep(seconds)
    second = await lengths()
    await asyncio.sleep(seconds)
    third = await lengths()
    return {w: third[w] - first[w] for w in running if second[w] > first[w] and third[w] > second[w]}


def run_reconcile(s: Stack, figures: Figures) -> None:
    proc = subprocess.run(cli("reconcile"), env=s.env, cwd=ROOT, capture_output=True, text=True, check=False)
    figures.reconcile_rc = proc.returncode
    figures.reconcile_lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0:
        log(f"reconcile exited {proc.returncode}: {proc.stderr.strip()[-400:]}")


async def drill(args: argparse.Namespace) -> tuple[int, Figures]:
    prefix = f"rs-{uuid.uuid4().hex[:6]}"
    figures = Figures()
    with stack(db=args.db) as s:
        await wait_ready(s.base_url)
        client = await temporal_client(s)
        stats = Stats()
        async with Api(s.base_url, stats, retry_cap=1.0, give_up_after=60) as api:
            now = datetime.now(UTC)
            r = await api.request(
                "absence",
                "POST",
                "/v1/absences",
                token=SYSTEM,
                json_body={
                    "staff_id": "chw-ben",
                    "backup_id": "chw-ana",
                    "starts_at": (now - timedelta(minutes=1)).isoformat(),
                    "ends_at": (now + timedelta(days=2)).isoformat(),
                },
                key=uuid.uuid4().hex,
            )
            if r.status_code != 201:
                raise RuntimeError(f"absence: {r.status_code} {r.text[:200]}")
            n = args.cases
            first = list(
                await asyncio.gather(
                    *(open_case(api, f"{prefix}-a{i:03}", member_for(i), flag=i % 3 == 0) for i in range(n))
                )
            )
            dump = s.tmp / "backup.db"
            backup(s, dump)
            log(f"backed up with {n} cases; going on")
            later = list(
                await asyncio.gather(
                    *(
                        open_case(api, f"{prefix}-b{i:03}", member_for(i), flag=i % 4 == 0)
                        for i in range(n // 2)
                    )
                )
            )
            await go_on(api, first, figures)
            cases = first + later
            figures.cases, figures.after_backup = len(cases), len(later)
            restore(s, dump)
            log("restored the backup; acting on the cases whose rows survived")
            await wait_ready(s.base_url)
            rows = {str(r[0]) for r in s.sql("SELECT id FROM interactions")}
            await act_on_open(api, client, cases, figures, figures.actions_before_repair, rows=rows)
            run_reconcile(s, figures)
            figures.disagreements = await converge(s, client, prefix, cases, within=args.settle)
            rows = {str(r[0]) for r in s.sql("SELECT id FROM interactions")}
            await act_on_open(api, client, cases, figures, figures.actions_after_repair, rows=rows)
            figures.disagreements += await converge(s, client, prefix, cases, within=args.settle)
            figures.grew = await idle_growth(client, cases, args.idle)
    for line in figures.reconcile_lines:
        print(f"  reconcile: {line}")
    for d in figures.disagreements:
        print(d.line())
    for line in figures.non_2xx[:20]:
        print(f"  non-2xx {line}")
    for wid, events in figures.grew.items():
        print(f"  history grows while idle: {wid} +{events} events")
    before, after = figures.actions_before_repair, figures.actions_after_repair
    print(
        f"restore {'OK' if figures.ok() else 'FAILED'}: db={args.db} cases={figures.cases} "
        f"opened_after_backup={figures.after_backup} actions_before_repair={len(before)} "
        f"max={max(before, default=0):.1f}s actions_after_repair={len(after)} "
        f"max={max(after, default=0):.1f}s "
        f"non_2xx={len(figures.non_2xx)} retried_503={stats.retried_503} "
        f"reconcile_rc={figures.reconcile_rc} reconcile_lines={len(figures.reconcile_lines)} "
        f"disagreements={len(figures.disagreements)} idle_growing={len(figures.grew)}"
    )
    return (0 if figures.ok() else 1), figures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--cases", type=int, default=30)
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--settle", type=float, default=60, help="seconds to wait for agreement")
    p.add_argument("--idle", type=float, default=10, help="seconds of each idle window")
    raise SystemExit(asyncio.run(drill(p.parse_args()))[0])


if __name__ == "__main__":
    main()
