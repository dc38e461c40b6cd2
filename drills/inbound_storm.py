"""Inbound storm: Twilio's webhooks from many members at once (issue 21).

``--requests`` signed webhooks (``RequestValidator``, as Twilio signs them, over
``FOLLOWTHROUGH_PUBLIC_URL`` + the path) in ``--seconds`` from ``--members`` members who have
phones, to a team with ``phone_numbers`` and repeat contacts merged (``merge_repeat_contacts``):
missed calls, voicemails on the same ``CallSid``, answered calls, texts, STOP / START / HELP,
and about ``--retry-share`` exact repeats of earlier requests (same Sid, same signature; half
sent together with their original). A request answered 5xx or 429, or not answered at all, is
sent again a second later as Twilio would (with its connection overrides ``#rc``), until it is
answered 200; answers slower than Twilio's 15 s timeout are counted. Mid-run, a CHW reaches
``--reach-share`` of the members (attempt ``reached``, then resolve), between two of their
contacts.

The oracle is computed from the generated events alone:

- every member with a contact nobody answered has exactly one open case, every other member none;
- every contact (distinct ``CallSid``/``MessageSid`` that is a missed call, voicemail or text)
  is on exactly one case, its member's (none lost, none on a stranger's case); answered calls and
  keywords are on none; each case's ``contacts`` is the number of its Sids (repeats not counted);
- a member reached mid-run has one resolved case with the contacts before the reach, and the
  contacts after it on a new case;
- every member whose last keyword was STOP (STOPALL, UNSUBSCRIBE, …) has text consent
  ``refused`` with that message's Sid as its source, after START ``granted``, otherwise the
  consent of the team file;
- every case's workflow agrees with its row (``drills.common.compare``, and ``contacts``).

Run: ``python -m drills.inbound_storm [--members 300] [--requests 2000] [--seconds 60]
[--db sqlite|postgres] [--seed N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import yaml
from temporalio.client import Client
from twilio.request_validator import RequestValidator

from domain.messages import ACTIVE_INTERACTION_STATUSES
from drills.common import (
    DEMO_TEAM,
    STAFF_TOKEN,
    ReadModel,
    SqlCase,
    TemporalCase,
    TemporalReader,
    compare,
    log,
    percentile,
    stack,
    temporal_client,
    wait_ready,
)

TEAM_NUMBER = "+13125550100"
AUTH_TOKEN = "drill-twilio-auth-token"
# Behind a proxy: Twilio calls https://…/ft/v1/inbound/…, the API sees /v1/inbound/….
PUBLIC_URL = "https://drill.example.org/ft"
ACCOUNT = "AC" + "d" * 32
CONSENT_AT = "2026-01-05"
TWILIO_TIMEOUT = 15.0  # Twilio gives up on a webhook after 15 s: slower answers are counted
KEYWORD_GAP = 4.0  # seconds between two keywords of one member (their order is the oracle's)
REACH_QUIET = 4.0  # no contact of a reached member this close to the reach

Kind = Literal["call", "voicemail", "answered", "text", "stop", "start", "help"]
OPENS = ("call", "voicemail", "text")  # kinds that are a contact (open or join a case)
KEYWORDS: dict[str, tuple[str, ...]] = {
    "stop": ("STOP", "stop", " Stop\n", "STOPALL", "Unsubscribe", "CANCEL", "QUIT", "END"),
    "start": ("START", "start", "Unstop"),
    "help": ("HELP", "info"),
}
TEXTS = (
    "Hi, can you call me back?",
    "I missed your call",
    "Is my appointment still on Tuesday?",
    "please stop texting me, call instead",  # words, not a keyword: a contact like any other
    "Need help with my food benefits",
    "ok",
)
# Share of each kind among the original requests (a voicemail follows a missed call).
WEIGHTS: dict[Kind, float] = {
    "call": 0.30,
    "text": 0.38,
    "answered": 0.05,
    "stop": 0.07,
    "start": 0.04,
    "help": 0.03,
}
VOICEMAIL_SHARE = 0.4  # of missed calls, followed by a voicemail on the same CallSid


# ---------------------------------------------------------------- the team
@dataclass(frozen=True)
class StormMember:
    id: str
    phone: str
    owner_id: str


def storm_members(n: int) -> list[StormMember]:
    owners = ("chw-ana", "chw-ben")
    return [StormMember(f"storm-{i:04}", f"+1312555{2000 + i:04d}", owners[i % 2]) for i in range(n)]


def storm_team(folder: Path, members: Sequence[StormMember]) -> Path:
    """The demo team answering ``TEAM_NUMBER``, repeat contacts merged, with ``members`` (each
    with a phone, an owner and text consent granted) beside the demo's own."""
    team = yaml.safe_load(DEMO_TEAM.read_text())
    team["config"]["phone_numbers"] = [TEAM_NUMBER]
    team["config"].setdefault("policy", {})["merge_repeat_contacts"] = True
    team["members"] = list(team.get("members") or []) + [
        {
            "id": m.id,
            "owner_id": m.owner_id,
            "phone": m.phone,
            "consent": {"text": {"status": "granted", "at": CONSENT_AT, "source": "intake form"}},
        }
        for m in members
    ]
    path = folder / "storm_team.yaml"
    path.write_text(yaml.safe_dump(team, sort_keys=False))
    return path


# ---------------------------------------------------------------- the plan
@dataclass
class Hook:
    """One webhook request as Twilio sends it, ``at`` seconds into the run."""

    seq: int
    at: float
    member: str
    kind: Kind
    sid: str
    route: Literal["voice", "messaging"]
    params: dict[str, str]
    retry_of: int | None = None  # an exact repeat of hook ``retry_of``
    together: bool = False  # a repeat sent at the same instant as its original
    after: int | None = None  # sent only once hook ``after`` is answered (keywords keep order)
    phase: int = 0  # 1: after the member was reached mid-run

    @property
    def path(self) -> str:
        return f"/v1/inbound/twilio/{self.route}"


@dataclass
class Plan:
    members: list[StormMember]
    hooks: list[Hook]
    seconds: float
    reach: dict[str, float] = field(default_factory=dict)  # member → when a CHW reaches them

    @property
    def originals(self) -> list[Hook]:
        return [h for h in self.hooks if h.retry_of is None]


def _sid(prefix: str, run: str, rng: random.Random) -> str:
    """A Sid as Twilio's look (two letters, 32 hex digits), unique to the run: runs of one plan
    on one Temporal server (the test suite's) must not share workflow ids."""
    return prefix + run + "".join(rng.choice("0123456789abcdef") for _ in range(32 - len(run)))


def _voice(sid: str, caller: str, kind: Kind, rng: random.Random) -> dict[str, str]:
    params = {
        "AccountSid": ACCOUNT,
        "CallSid": sid,
        "From": caller,
        "To": TEAM_NUMBER,
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }
    if kind == "call":  # the <Dial> action: nobody picked up
        params |= {"CallStatus": "in-progress", "DialCallStatus": rng.choice(["no-answer", "busy"])}
    elif kind == "voicemail":  # the <Record> action on the same call
        params |= {
            "CallStatus": "completed",
            "RecordingSid": "RE" + sid[2:],
            "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/RE{sid[2:]}",
            "RecordingDuration": str(rng.randint(3, 90)),
        }
    else:  # answered: the <Dial> action after a conversation
        params |= {"CallStatus": "completed", "DialCallStatus": "completed", "DialCallDuration": "95"}
    return params


def _text(sid: str, caller: str, body: str) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT,
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "From": caller,
        "To": TEAM_NUMBER,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "ApiVersion": "2010-04-01",
    }


def make_plan(
    *,
    members: int,
    requests: int,
    seconds: float,
    retry_share: float = 0.05,
    reach_share: float = 0.1,
    seed: int = 21,
) -> Plan:
    """``requests`` webhooks in ``seconds`` from ``members`` members: originals of every kind, then
    exact repeats of about ``retry_share`` of them, then the members a CHW reaches mid-run."""
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:8]
    people = storm_members(members)
    n_retries = round(requests * retry_share / (1 + retry_share))
    n_originals = requests - n_retries
    span = seconds * 0.97
    hooks: list[Hook] = []
    keyword_times: dict[str, list[float]] = defaultdict(list)
    kinds: list[Kind] = list(WEIGHTS)
    weights = list(WEIGHTS.values())

    def add(at: float, m: StormMember, kind: Kind, sid: str) -> None:
        if kind in ("call", "voicemail", "answered"):
            route: Literal["voice", "messaging"] = "voice"
            params = _voice(sid, m.phone, kind, rng)
        else:
            route = "messaging"
            body = rng.choice(TEXTS) if kind == "text" else rng.choice(KEYWORDS[kind])
            params = _text(sid, m.phone, body)
        hooks.append(Hook(len(hooks), at, m.id, kind, sid, route, params))

    while len(hooks) < n_originals:
        m = rng.choice(people)
        at = rng.uniform(0, span)
        kind: Kind = rng.choices(kinds, weights)[0]
        if kind in KEYWORDS and any(abs(at - t) < KEYWORD_GAP for t in keyword_times[m.id]):
            kind = "text"
        if kind in KEYWORDS:
            keyword_times[m.id].append(at)
        sid = _sid("CA" if kind in ("call", "answered") else "SM", run, rng)
        add(at, m, kind, sid)
        if kind == "call" and len(hooks) < n_originals and rng.random() < VOICEMAIL_SHARE:
            add(min(span, at + rng.uniform(1.0, 6.0)), m, "voicemail", sid)

    # Keywords of one member are sent in order, each after the one before was answered.
    last_keyword: dict[str, Hook] = {}
    for h in sorted(hooks, key=lambda h: h.at):
        if h.kind in KEYWORDS:
            prev = last_keyword.get(h.member)
            h.after = prev.seq if prev is not None else None
            last_keyword[h.member] = h

    # Members reached mid-run: contacts before and after, none within REACH_QUIET of the reach,
    # and a call's voicemail on the same side as the call.
    reach: dict[str, float] = {}
    by_member: dict[str, list[Hook]] = defaultdict(list)
    for h in hooks:
        by_member[h.member].append(h)
    candidates = [m.id for m in people]
    rng.shuffle(candidates)
    wanted = round(members * reach_share)
    for member in candidates:
        if len(reach) >= wanted:
            break
        own = by_member[member]
        for _ in range(10):
            t = rng.uniform(span * 0.3, span * 0.7)
            quiet = all(abs(h.at - t) >= min(REACH_QUIET, seconds / 15) for h in own)
            before = any(h.kind in OPENS and h.at < t for h in own)
            after = any(h.kind in OPENS and h.at > t for h in own)
            sides = {(h.sid, h.at < t) for h in own if h.kind in ("call", "voicemail")}
            same_side = len({sid for sid, _ in sides}) == len(sides)
            if quiet and before and after and same_side:
                reach[member] = t
                for h in own:
                    h.phase = 1 if h.at > t else 0
                break

    # Exact repeats (Twilio's retries): the same request and signature, together with the
    # original or up to 8 s after it.
    originals = list(hooks)
    for i, h in enumerate(rng.sample(originals, min(n_retries, len(originals)))):
        together = i % 2 == 0
        at = h.at if together else min(seconds, h.at + rng.uniform(0.5, 8.0))
        hooks.append(
            Hook(
                len(hooks),
                at,
                h.member,
                h.kind,
                h.sid,
                h.route,
                h.params,
                retry_of=h.seq,
                together=together,
                after=h.after,
                phase=h.phase,
            )
        )
    hooks.sort(key=lambda h: (h.at, h.seq))
    return Plan(people, hooks, seconds, reach)


# ---------------------------------------------------------------- the oracle
@dataclass(frozen=True)
class Expected:
    """What the run must leave for one member."""

    resolved: frozenset[str]  # the Sids of the case reached mid-run (empty: not reached)
    open: frozenset[str]  # the Sids of the member's open case (empty: no open case)
    consent: str  # text consent at the end: granted | refused
    consent_sid: str | None  # the message the consent came from (None: the team file's)


def oracle(plan: Plan) -> dict[str, Expected]:
    out: dict[str, Expected] = {}
    originals = sorted(plan.originals, key=lambda h: h.at)
    for m in plan.members:
        own = [h for h in originals if h.member == m.id]
        before = frozenset(h.sid for h in own if h.kind in OPENS and h.phase == 0)
        after = frozenset(h.sid for h in own if h.kind in OPENS and h.phase == 1)
        keywords = [h for h in own if h.kind in ("stop", "start")]
        last = keywords[-1] if keywords else None
        reached = m.id in plan.reach
        out[m.id] = Expected(
            resolved=before if reached else frozenset(),
            open=after if reached else before,
            consent="refused" if last is not None and last.kind == "stop" else "granted",
            consent_sid=last.sid if last is not None else None,
        )
    return out


@dataclass
class Case:
    row: SqlCase
    member_id: str | None
    contacts: int
    sids: set[str]
    self_merged: bool = False  # the row's own external id is also one of its merged contacts


@dataclass
class Verdict:
    """The oracle against what the read model (and Temporal) hold; every entry of a list starts
    with the member it is about (the case, when it has no member)."""

    LABELS = (
        "lost",
        "stray",
        "duplicate",
        "missing_open",
        "unexpected_open",
        "wrong_contacts",
        "double_counted",
        "wrong_reach",
        "consent_wrong",
        "disagreements",
    )

    cases: int = 0
    open_cases: int = 0
    resolved_cases: int = 0
    lost: list[str] = field(default_factory=list)  # a contact on no case of its member
    stray: list[str] = field(default_factory=list)  # a case or contact the events do not explain
    # More than one case for one stretch of a member's contacts (two open, or two resolved at the reach).
    duplicate: list[str] = field(default_factory=list)
    missing_open: list[str] = field(default_factory=list)
    unexpected_open: list[str] = field(default_factory=list)
    wrong_contacts: list[str] = field(default_factory=list)  # ``contacts`` ≠ its distinct Sids
    # A case whose own Sid was merged into it as a repeat contact (``contacts`` one too many).
    double_counted: list[str] = field(default_factory=list)
    wrong_reach: list[str] = field(default_factory=list)
    consent_wrong: list[str] = field(default_factory=list)
    disagreements: list[str] = field(default_factory=list)  # Temporal against the row

    def sql_ok(self) -> bool:
        return not any(
            (
                self.lost,
                self.stray,
                self.duplicate,
                self.missing_open,
                self.unexpected_open,
                self.wrong_contacts,
                self.double_counted,
                self.wrong_reach,
                self.consent_wrong,
            )
        )

    def race_members(self) -> set[str]:
        """Members with two open cases or a case that counted its own Sid twice: the two
        check-then-insert races of drills/README.md's findings."""
        return {_member(e) for e in self.duplicate + self.double_counted}

    def others(self) -> list[str]:
        """Every failure that names no member of ``race_members``."""
        race = self.race_members()
        return [
            f"{label} {e}" for label in self.LABELS for e in getattr(self, label) if _member(e) not in race
        ]

    def ok(self) -> bool:
        return self.sql_ok() and not self.disagreements

    def line(self) -> str:
        return (
            f"cases={self.cases} open={self.open_cases} resolved={self.resolved_cases} "
            f"lost={len(self.lost)} duplicate={len(self.duplicate)} "
            f"missing_open={len(self.missing_open)} unexpected_open={len(self.unexpected_open)} "
            f"stray={len(self.stray)} wrong_contacts={len(self.wrong_contacts)} "
            f"double_counted={len(self.double_counted)} "
            f"wrong_reach={len(self.wrong_reach)} consent_wrong={len(self.consent_wrong)} "
            f"disagreements={len(self.disagreements)}"
        )

    def details(self, limit: int = 15) -> list[str]:
        out: list[str] = []
        for label in self.LABELS:
            items: list[str] = getattr(self, label)
            out.extend(f"  {label} {item}" for item in items[:limit])
            if len(items) > limit:
                out.append(f"  … and {len(items) - limit} more {label}")
        return out


def _member(entry: str) -> str:
    return entry.split(":", 1)[0].split(" ", 1)[0]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def read_cases(rm: ReadModel, member_ids: Sequence[str]) -> tuple[list[Case], dict[str, Any]]:
    """The storm's cases (every case of a storm member, and every case a Twilio Sid opened) with
    the Sids on each, and the storm members' profiles."""
    rows = rm.sql(
        "SELECT id, external_id, workflow_id, status, assignee_id, version, attempt_count, "
        "member_id, contacts FROM interactions WHERE member_id LIKE 'storm-%' "
        "OR external_id LIKE 'twilio:%'"
    )
    merged: dict[str, set[str]] = defaultdict(set)
    for iid, ext in rm.sql("SELECT interaction_id, external_id FROM interaction_contacts"):
        merged[str(iid)].add(str(ext))
    cases = []
    for r in rows:
        row = SqlCase(str(r[1]), str(r[0]), str(r[2]), str(r[3]), r[4], int(r[5]), int(r[6]))
        sids = {ext.removeprefix("twilio:") for ext in {row.external_id} | merged.get(row.id, set())}
        cases.append(Case(row, r[7], int(r[8]), sids, row.external_id in merged.get(row.id, set())))
    wanted = set(member_ids)
    profiles = {
        str(mid): _json(profile)
        for mid, profile in rm.sql("SELECT id, profile FROM members WHERE id LIKE 'storm-%'")
        if mid in wanted
    }
    return cases, profiles


def judge(plan: Plan, cases: Sequence[Case], profiles: dict[str, Any]) -> Verdict:
    want = oracle(plan)
    v = Verdict(cases=len(cases))
    active = set(ACTIVE_INTERACTION_STATUSES)
    by_member: dict[str | None, list[Case]] = defaultdict(list)
    for c in cases:
        by_member[c.member_id].append(c)
        v.open_cases += c.row.status in active
        v.resolved_cases += c.row.status == "resolved"
        if c.self_merged:
            v.double_counted.append(
                f"{c.member_id} case {c.row.id}: its own Sid {c.row.external_id} also merged into it "
                f"as a repeat contact (contacts={c.contacts}, {len(c.sids)} distinct Sids)"
            )
        elif c.contacts != len(c.sids):
            v.wrong_contacts.append(
                f"{c.member_id} case {c.row.id}: contacts={c.contacts}, {len(c.sids)} distinct Sids"
            )
    for c in by_member.pop(None, []):
        v.stray.append(f"case {c.row.id} ({c.row.external_id}) has no member")
    for member, e in want.items():
        own = by_member.pop(member, [])
        opened = [c for c in own if c.row.status in active]
        closed = [c for c in own if c.row.status == "resolved"]
        on_cases = Counter(s for c in own for s in c.sids)
        for sid in sorted((e.open | e.resolved) - set(on_cases)):
            v.lost.append(f"{member}: {sid}")
        for sid in sorted(set(on_cases) - (e.open | e.resolved)):
            v.stray.append(f"{member}: {sid} is on a case")
        for sid, n in sorted(on_cases.items()):
            if n > 1:
                v.stray.append(f"{member}: {sid} is on {n} cases")
        if len(opened) > 1:
            v.duplicate.append(
                f"{member}: {len(opened)} open cases "
                + ", ".join(f"{c.row.id} ({len(c.sids)} Sids)" for c in opened)
            )
        if e.open and not opened:
            v.missing_open.append(f"{member}: {len(e.open)} unanswered contacts, no open case")
        if not e.open and opened:
            v.unexpected_open.append(f"{member}: {len(opened)} open cases, no unanswered contact")
        if len(opened) == 1 and opened[0].sids != set(e.open):
            v.wrong_contacts.append(
                f"{member}: open case has {len(opened[0].sids)} Sids, expected {len(e.open)}"
            )
        split = set().union(*(c.sids for c in closed)) if closed else set()
        if e.resolved and len(closed) > 1 and split == set(e.resolved):
            v.duplicate.append(
                f"{member}: the {len(e.resolved)} contacts before the reach were on {len(closed)} "
                f"cases, all resolved at the reach ({[len(c.sids) for c in closed]} Sids)"
            )
        elif e.resolved and not any(c.sids == set(e.resolved) for c in closed):
            v.wrong_reach.append(
                f"{member}: no resolved case with the {len(e.resolved)} contacts before the reach "
                f"(resolved cases: {[len(c.sids) for c in closed]})"
            )
        if not e.resolved and closed:
            v.stray.append(f"{member}: {len(closed)} resolved cases, never reached")
        text = ((profiles.get(member) or {}).get("consent") or {}).get("text") or {}
        source = str(text.get("source", ""))
        if text.get("status") != e.consent or (e.consent_sid is not None and e.consent_sid not in source):
            v.consent_wrong.append(
                f"{member}: text consent {text.get('status')!r} from {source[:60]!r}, expected "
                f"{e.consent!r} from {e.consent_sid or 'the team file'}"
            )
    for other, rest in by_member.items():
        v.stray.append(f"{other}: {len(rest)} cases of a member the storm did not use")
    return v


async def temporal_disagreements(reader: TemporalReader, cases: Sequence[Case]) -> list[str]:
    """Every case's workflow against its row (``compare``), and its ``contacts``."""
    got: dict[str, TemporalCase] = await reader.cases(c.row.workflow_id for c in cases)
    out: list[str] = []
    for c in cases:
        wf = got[c.row.workflow_id]
        out.extend(d.line().strip() for d in compare(c.row.external_id, c.row, wf))
        if wf.state is not None and wf.state.contacts != c.contacts:
            out.append(
                f"disagreement {c.row.external_id}: contacts sql={c.contacts} temporal={wf.state.contacts}"
            )
    return out


# ---------------------------------------------------------------- sending
@dataclass
class Sent:
    """What the storm's requests got."""

    latencies: list[float] = field(default_factory=list)  # seconds, every request sent
    statuses: Counter[int] = field(default_factory=Counter)  # every answer, retries included
    transport_errors: Counter[str] = field(default_factory=Counter)
    resent: int = 0  # requests sent again after a non-200 or no answer (as Twilio would)
    failed: list[str] = field(default_factory=list)  # hooks never answered 200
    gated: list[float] = field(default_factory=list)  # seconds a keyword waited for the one before
    reach_late: list[float] = field(default_factory=list)  # seconds each reach finished after its time
    reach_errors: list[str] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)  # non-200 answers by status and error code
    first_sent: float = math.inf
    last_answer: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.latencies) + sum(self.transport_errors.values())

    def non_200(self) -> str:
        bad = {k: v for k, v in sorted(self.statuses.items()) if k != 200}
        parts = [f"{k}:{n}" for k, n in bad.items()] + [
            f"{k}:{n}" for k, n in sorted(self.transport_errors.items())
        ]
        return "{" + ", ".join(parts) + "}"


def _error_of(r: httpx.Response) -> str:
    try:
        err = r.json()["error"]
        return f"{err['code']}: {str(err['message'])[:48]}"
    except (ValueError, KeyError, TypeError):
        return r.text[:60]


def signature(hook: Hook, token: str = AUTH_TOKEN, public_url: str = PUBLIC_URL) -> str:
    return str(RequestValidator(token).compute_signature(public_url + hook.path, hook.params))


async def deliver(http: httpx.AsyncClient, hook: Hook, sent: Sent, *, give_up_after: float = 300.0) -> None:
    """Send ``hook`` until it is answered 200, as Twilio would: a 5xx, a 429 or a dropped
    connection is sent again (exactly the same request) after a second; any other answer is a
    failure of the run."""
    headers = {"X-Twilio-Signature": signature(hook)}
    started = time.monotonic()
    sent.first_sent = min(sent.first_sent, started)
    while True:
        t0 = time.monotonic()
        try:
            r = await http.post(hook.path, data=hook.params, headers=headers)
        except httpx.TransportError as err:
            sent.transport_errors[type(err).__name__] += 1
            status = None
        else:
            sent.latencies.append(time.monotonic() - t0)
            sent.statuses[r.status_code] += 1
            status = r.status_code
            if status == 200:
                sent.last_answer = max(sent.last_answer, time.monotonic())
                return
            if status != 200:
                sent.errors[f"{status} {_error_of(r)}"] += 1
            if status != 429 and status < 500:
                sent.failed.append(f"{hook.kind} {hook.sid} ({hook.member}): {status} {r.text[:160]}")
                sent.last_answer = max(sent.last_answer, time.monotonic())
                return
        if time.monotonic() - started > give_up_after:
            sent.failed.append(f"{hook.kind} {hook.sid} ({hook.member}): gave up after {status}")
            return
        sent.resent += 1
        await asyncio.sleep(1.0)


OpenCasesOf = Callable[[str], Awaitable[list[tuple[str, str | None]]]]


async def reach_member(http: httpx.AsyncClient, member: str, open_cases_of: OpenCasesOf, sent: Sent) -> None:
    """A CHW reaches the member: a ``reached`` attempt on each open case, then resolves it."""
    cases = await open_cases_of(member)
    if not cases:
        sent.reach_errors.append(f"{member}: no open case to reach")
    for iid, assignee in cases:
        token = STAFF_TOKEN.get(assignee or "", "drill-lead")
        auth = {"Authorization": f"Bearer {token}"}
        for action, body in (
            ("attempts", {"outcome": "reached", "note": "drill: reached"}),
            ("resolve", {"resolution": "drill: member reached"}),
        ):
            key = uuid.uuid4().hex
            for _ in range(60):
                r = await http.post(
                    f"/v1/interactions/{iid}/{action}", json=body, headers={**auth, "Idempotency-Key": key}
                )
                if r.status_code != 503:
                    break
                await asyncio.sleep(1.0)
            if r.status_code != 200:
                sent.reach_errors.append(f"{member} {action}: {r.status_code} {r.text[:160]}")
                return


async def storm(http: httpx.AsyncClient, plan: Plan, open_cases_of: OpenCasesOf) -> Sent:
    """Send every hook at its time (open loop: nobody waits for an answer, as Twilio does not),
    but keywords of one member after the previous one was answered, and a reached member's later
    contacts after the CHW reached them; the reach waits for the member's earlier hooks."""
    sent = Sent()
    done = {h.seq: asyncio.Event() for h in plan.hooks}
    reached = {m: asyncio.Event() for m in plan.reach}
    reached_at: dict[str, float] = {}
    t0 = time.monotonic()

    async def one(hook: Hook) -> None:
        try:
            due = t0 + hook.at
            if hook.phase == 1:
                # The member's later contacts keep their spacing, shifted by how late the reach was.
                await reached[hook.member].wait()
                due += max(0.0, reached_at[hook.member] - (t0 + plan.reach[hook.member]))
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if hook.after is not None:
                await done[hook.after].wait()
            late = time.monotonic() - due
            if late > 0.5:
                sent.gated.append(late)
            await deliver(http, hook, sent)
        finally:
            done[hook.seq].set()

    async def reach(member: str, at: float) -> None:
        try:
            await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
            await asyncio.gather(
                *(done[h.seq].wait() for h in plan.hooks if h.member == member and h.phase == 0)
            )
            await reach_member(http, member, open_cases_of, sent)
        finally:
            reached_at[member] = time.monotonic()
            sent.reach_late.append(reached_at[member] - (t0 + at))
            reached[member].set()

    await asyncio.gather(*(one(h) for h in plan.hooks), *(reach(m, at) for m, at in plan.reach.items()))
    return sent


def sql_open_cases(rm: ReadModel) -> OpenCasesOf:
    """The member's open cases (id, assignee) as the read model has them, for the CHW who reaches them."""
    statuses = ", ".join(f"'{s}'" for s in ACTIVE_INTERACTION_STATUSES)

    async def open_cases_of(member: str) -> list[tuple[str, str | None]]:
        rows = await asyncio.to_thread(
            rm.sql,
            f"SELECT id, assignee_id FROM interactions WHERE member_id = :m AND status IN ({statuses}) "
            "ORDER BY received_at",
            m=member,
        )
        return [(str(r[0]), r[1]) for r in rows]

    return open_cases_of


# ---------------------------------------------------------------- settling and judging
@dataclass
class Settled:
    verdict: Verdict
    started_after: float | None  # every case's workflow exists (seconds after the last answer)
    projected_after: float | None  # every row projected, its ``contacts`` its Sids (or one more: finding 10)
    sql_after: float | None  # the read model satisfies the oracle
    temporal_after: float | None  # and Temporal agrees with every row


async def settle(
    plan: Plan, rm: ReadModel, client: Client, since: float, *, within: float = 180.0
) -> Settled:
    """Judge every second until the read model satisfies the oracle and Temporal agrees with it,
    or ``within`` seconds have passed; when each of these first held, counted from ``since``."""
    reader = TemporalReader(client)
    ids = [m.id for m in plan.members]
    deadline = time.monotonic() + within
    started_after = projected_after = sql_after = None
    while True:
        cases, profiles = await asyncio.to_thread(read_cases, rm, ids)
        v = judge(plan, cases, profiles)
        if started_after is None:
            got = await reader.cases(c.row.workflow_id for c in cases)
            if all(t.execution in ("running", "completed") for t in got.values()):
                started_after = time.monotonic() - since
        if projected_after is None and all(
            c.row.version >= 1 and (c.contacts == len(c.sids) or c.self_merged) for c in cases
        ):
            projected_after = time.monotonic() - since
        if v.sql_ok():
            sql_after = sql_after if sql_after is not None else time.monotonic() - since
        # Settled, or nothing left but the known races (which waiting does not mend).
        if v.sql_ok() or (projected_after is not None and not v.others()):
            v.disagreements = await temporal_disagreements(reader, cases)
            if not v.disagreements:
                return Settled(v, started_after, projected_after, sql_after, time.monotonic() - since)
        if time.monotonic() > deadline:
            if not v.disagreements:
                v.disagreements = await temporal_disagreements(reader, cases)
            return Settled(v, started_after, projected_after, sql_after, None)
        await asyncio.sleep(1.0)


def ms(values: Sequence[float], p: float) -> str:
    return f"{percentile(values, p) * 1000:.0f}" if values else "-"


def summary_line(name: str, db: str, plan: Plan, sent: Sent, elapsed: float, s: Settled) -> str:
    retries = [h for h in plan.hooks if h.retry_of is not None]
    ok = s.verdict.ok() and not sent.failed and not sent.reach_errors
    after = "; ".join(
        f"{label} {f'+{t:.1f}s' if t is not None else 'NEVER'}"
        for label, t in (
            ("workflows started", s.started_after),
            ("projections settled", s.projected_after),
            ("oracle held in SQL", s.sql_after),
            ("Temporal agreed", s.temporal_after),
        )
    )
    lat = sent.latencies
    return (
        f"{name} {'OK' if ok else 'FAILED'}: db={db} members={len(plan.members)} "
        f"hooks={len(plan.hooks)} (repeats {len(retries)}, {sum(h.together for h in retries)} together "
        f"with their original) offered {len(plan.hooks) / plan.seconds:.1f}/s; sent={sent.requests} "
        f"(resends included) in {elapsed:.1f}s = {sent.requests / elapsed:.1f} req/s; "
        f"webhook p50={ms(lat, 50)}/p95={ms(lat, 95)}/p99={ms(lat, 99)}/max={ms(lat, 100)}ms; "
        f"non-200={sent.non_200()} resent={sent.resent} failed={len(sent.failed)}; "
        f"slower than Twilio's {TWILIO_TIMEOUT:g}s={sum(x > TWILIO_TIMEOUT for x in lat)}; "
        f"keywords held>0.5s={len(sent.gated)}; reached={len(plan.reach)} "
        f"reach_errors={len(sent.reach_errors)}; "
        f"after the last answer: {after}; oracle: {s.verdict.line()}"
    )


def report(name: str, db: str, plan: Plan, sent: Sent, s: Settled) -> bool:
    """Print the details and the summary line; whether the run passed."""
    elapsed = max(sent.last_answer - sent.first_sent, 1e-9)
    for line in sent.failed[:10] + sent.reach_errors[:10]:
        print(f"  {line}")
    for line in s.verdict.details():
        print(line)
    for error, n in sorted(sent.errors.items()):
        print(f"  answered {error}: {n}x")
    if sent.reach_late:
        print(f"  reaches done {max(sent.reach_late):.1f}s after their time at most")
    kinds = Counter(h.kind for h in plan.originals)
    print(f"  originals by kind: {dict(sorted(kinds.items()))}")
    print(summary_line(name, db, plan, sent, elapsed, s))
    return s.verdict.ok() and not sent.failed and not sent.reach_errors


async def drill(args: argparse.Namespace) -> int:
    plan = make_plan(
        members=args.members,
        requests=args.requests,
        seconds=args.seconds,
        retry_share=args.retry_share,
        reach_share=args.reach_share,
        seed=args.seed,
    )
    env = {"FOLLOWTHROUGH_TWILIO_AUTH_TOKEN": AUTH_TOKEN, "FOLLOWTHROUGH_PUBLIC_URL": PUBLIC_URL}
    with stack(db=args.db, extra_env=env, team=lambda folder: storm_team(folder, plan.members)) as s:
        await wait_ready(s.base_url)
        rm = ReadModel(s.db_url, s.temporal_address)
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
        async with httpx.AsyncClient(base_url=s.base_url, limits=limits, timeout=60) as http:
            log(
                f"inbound_storm: {len(plan.hooks)} webhooks from {args.members} members in {args.seconds:g} s"
            )
            sent = await storm(http, plan, sql_open_cases(rm))
        log(f"answered; settling (up to {args.settle:g} s)")
        settled = await settle(plan, rm, await temporal_client(rm), sent.last_answer, within=args.settle)
    return 0 if report("inbound_storm", args.db, plan, sent, settled) else 1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--members", type=int, default=300)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--retry-share", type=float, default=0.05)
    p.add_argument("--reach-share", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=21)
    p.add_argument("--settle", type=float, default=180.0)
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    raise SystemExit(asyncio.run(drill(p.parse_args())))


if __name__ == "__main__":
    main()
