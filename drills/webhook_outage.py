"""Webhook outage: notices go to a tiny local webhook receiver (``FOLLOWTHROUGH_WEBHOOK_URL``);
it is taken down under load for ``--outage`` seconds, then brought back. Every outbox key must
reach the receiver exactly once (by the ``Idempotency-Key`` header the webhook channel sends),
and deadlines must keep firing while notices cannot be delivered.

While it is down, clients also start backfilled cases (received ``--backfill-hours`` ago, so
their deadline has passed): each must turn overdue during the outage.

Run: ``python -m drills.webhook_outage [--outage 180] [--clients 10] [--settle 900]``
(``--outage 30 --settle 300`` for a fast run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from drills.common import (
    Api,
    Stats,
    converge,
    failures,
    free_port,
    interaction_body,
    log,
    member_for,
    run_for,
    stack,
    wait_ready,
)


class Receiver:
    """A webhook receiver on a fixed port that can go down (connections refused) and come back.

    ``keys`` counts deliveries by their ``Idempotency-Key`` (a grouped delivery has its own id);
    ``notices`` counts each notice's outbox key in the bodies received, which is where the audit
    counts duplicates per case (``notice_receipts``)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.keys: Counter[str] = Counter()
        self.notices: Counter[str] = Counter()
        self.first_seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                key = self.headers.get("Idempotency-Key", "<none>")
                notice_keys = keys_in(raw) or [key]
                with receiver._lock:
                    receiver.keys[key] += 1
                    receiver.notices.update(notice_keys)
                    receiver.first_seen.setdefault(key, time.monotonic())
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def notice_receipts(self) -> dict[str, int]:
        """How many times each notice (outbox key) was received, so far."""
        with self._lock:
            return dict(self.notices)

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def keys_in(raw: bytes) -> list[str]:
    """The outbox keys of the notices in a delivery body (one notice, or a group of them)."""
    try:
        body = json.loads(raw)
    except ValueError:
        return []
    if not isinstance(body, dict):
        return []
    items = body.get("notifications", [body])
    return [str(n["key"]) for n in items if isinstance(n, dict) and "key" in n]


async def drill(args: argparse.Namespace) -> int:
    prefix = f"wh-{uuid.uuid4().hex[:6]}"
    receiver = Receiver(free_port())
    receiver.up()
    env = {
        "FOLLOWTHROUGH_WEBHOOK_URL": receiver.url,
        "FOLLOWTHROUGH_WEBHOOK_SECRET": "whsec_ZHJpbGwtd2ViaG9vay1zZWNyZXQtMzItYnl0ZXMh",
    }
    try:
        with stack(db=args.db, extra_env=env) as s:
            await wait_ready(s.base_url)
            stats = Stats()
            async with Api(s.base_url, stats, retry_cap=1.0) as api:
                load = asyncio.create_task(
                    run_for(api, args.clients, args.down_at + args.outage + args.after, prefix)
                )
                await asyncio.sleep(args.down_at)
                receiver.down()
                down_at = time.monotonic()
                before = sum(receiver.keys.values())
                log(f"webhook receiver down for {args.outage:g} s")
                # Backfilled cases started while notices cannot go out: their deadlines must fire.
                late = datetime.now(UTC) - timedelta(hours=args.backfill_hours)
                overdue_ids: list[str] = []
                for i in range(args.backfilled):
                    r = await api.request(
                        "create",
                        "POST",
                        "/v1/interactions",
                        token="drill-system",
                        json_body=interaction_body(f"late-{prefix}-{i:03}", member_for(i), received_at=late),
                    )
                    if r.status_code in (200, 201):
                        overdue_ids.append(r.json()["id"])
                fired = 0
                while time.monotonic() < down_at + args.outage:
                    if overdue_ids:
                        got = s.sql(
                            "SELECT count(*) FROM interactions WHERE overdue AND external_id LIKE :p",
                            p=f"late-{prefix}-%",
                        )
                        fired = int(got[0][0])
                    await asyncio.sleep(1.0)
                during = sum(receiver.keys.values()) - before  # must stay 0: the port is closed
                receiver.up()
                up_at = time.monotonic()
                log(f"webhook receiver up again; {fired}/{len(overdue_ids)} backfilled cases went overdue")
                outcomes = await load
            a = await converge(
                s,
                prefix,
                [o.external_id for o in outcomes],
                receipts=receiver.notice_receipts,
                within=args.settle,
            )
            outbox = {row[0]: row[1] for row in s.sql("SELECT key, delivered_at FROM notifications")}
            undelivered_at_end = sum(1 for v in outbox.values() if v is None)
            converged_at = time.monotonic()
    finally:
        receiver.down()
    failed = failures(outcomes)
    for line in stats.route_lines():
        print(line)
    for line in a.details():
        print(line)
    print(f"  audit: {a.line()}")
    missing = [k for k in outbox if receiver.keys.get(k, 0) == 0]
    twice = {k: n for k, n in receiver.keys.items() if n > 1}
    unknown = [k for k in receiver.keys if k not in outbox]
    for k in missing[:5]:
        print(f"  never received: {k}")
    for k, n in list(twice.items())[:5]:
        print(f"  received {n}x: {k}")
    last = max(receiver.first_seen.values(), default=up_at)
    recovered = not missing and undelivered_at_end == 0
    deadlines_ok = fired == len(overdue_ids) and len(overdue_ids) == args.backfilled
    ok = recovered and not twice and not unknown and deadlines_ok and not failed and a.ok()
    verdict = "OK" if ok else ("FINDING: DELIVERY DID NOT RECOVER" if not recovered else "FAILED")
    print(
        f"webhook_outage {verdict}: receiver down {up_at - down_at:.0f}s under load "
        f"(clients={args.clients}, lifecycles={len(outcomes)}, resolved={a.resolved}, "
        f"lost={len(a.lost)}, client_errors={len(failed)}, duplicate={len(a.duplicate)}, "
        f"undelivered={len(a.undelivered)}, disagreements={len(a.disagreements)}); "
        f"outbox keys={len(outbox)} received once={sum(1 for n in receiver.keys.values() if n == 1)} "
        f"more than once={len(twice)} never={len(missing)} undelivered rows={undelivered_at_end} "
        f"(received while down: {during}); deadlines fired while down: {fired}/{len(overdue_ids)}; "
        f"last first-delivery {last - up_at:.0f}s after the receiver came back; "
        f"waited {converged_at - up_at:.0f}s"
    )
    return 0 if ok else 1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--outage", type=float, default=180, help="seconds the receiver is down")
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--down-at", type=float, default=5)
    p.add_argument("--after", type=float, default=5, help="seconds of new lifecycles after it")
    p.add_argument("--backfilled", type=int, default=5, help="overdue cases started during the outage")
    p.add_argument("--backfill-hours", type=float, default=72)
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--settle", type=float, default=900, help="seconds to wait for every notice")
    raise SystemExit(asyncio.run(drill(p.parse_args())))


if __name__ == "__main__":
    main()
