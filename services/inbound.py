"""Inbound contacts from the phone system: calls, voicemails and texts (docs/channels.md).

``Inbound`` is what the phone-system front ends call: Twilio's signed webhooks
(``twilio_voice``, ``twilio_messaging``) and the neutral ``receive`` for any other provider. Each
turns its request into one ``Contact`` and takes it the same way:

1. The team is the one that answers the number called (team config ``phone_numbers``); a number
   no team answers is 404, logged.
2. The member is found by phone within the team (``Member.phone``, E.164). A number the team does
   not know still opens a case: unassigned (the leads are told, as of any unassigned case), with
   ``caller_phone`` set and ``member_id`` NULL, until a lead links it
   (``Interactions.link``).
3. A text that is an opt-out keyword (``domain.inbound.keyword_of``) sets the text consent of
   every member with that number (and is remembered against the number, for a member who gets
   it later: ``store.phones``) and opens no case; a text that only reads like one
   (``domain.inbound.possible_opt_out``) is a contact like any other whose case gets a
   ``possible_opt_out`` line for the CHW to review; any other contact opens a case through
   ``Interactions.start``, keyed by the provider's id, so the phone system's repeats, and a
   voicemail after the missed call of the same call, land on one case; a contact from a member
   with an open case joins it (``merged``, docs/rules.md §2.10).
4. Once per provider id and event (``services.operations.once``): a repeat answers the first
   answer and changes nothing.

Member data stays in SQL: a text's body is the case's ``summary`` (as for
``POST /v1/interactions``); the caller's number is ``caller_phone``; neither reaches a workflow,
a search attribute, a notice or a log line. Once the contact's row is saved it is taken: if
Temporal cannot start its workflow now, the row stays and reconcile starts it
(docs/architecture.md §3.15), and the phone system is answered 200 (``pending``), never asked to
send it again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

import structlog
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from domain.errors import Forbidden, Invalid, NotFound, Unavailable
from domain.inbound import Keyword, e164, keyword_of, possible_opt_out, screened, voice_contact
from domain.messages import ACTIVE_INTERACTION_STATUSES, TimelineEntry
from domain.models import Channel
from services import access
from services.access import Principal
from services.context import Context, Service
from services.interactions import FUTURE_TOLERANCE, MAX_BACKFILL, Interactions
from services.members import ChannelConsent, Consent, consent_at, profile_of, put_profile
from services.operations import Answer, Operation, once
from services.public import InboundCreate, InboundPublic
from services.schemas import CaseStart
from services.teams import require_team, team_config
from store import phones, repositories as repo
from store.models import Interaction, Member
from store.projection import add_timeline

log = structlog.get_logger(__name__)

# The system acting for a phone system whose request was authenticated by its signature.
PHONE_SYSTEM = Principal(role="system")
# The longest ``source`` of a consent (services.members.Consent).
_SOURCE_MAX = 200


@dataclass(frozen=True)
class TwilioWebhook:
    """A Twilio webhook request as the front end received it: the path and query it was sent
    to, its form parameters, and the ``X-Twilio-Signature`` header."""

    path: str
    query: str
    params: dict[str, str]
    signature: str | None


@dataclass(frozen=True)
class Contact:
    """One inbound contact, whichever phone system sent it (numbers already in E.164)."""

    provider: str  # "twilio", or "inbound" for POST /v1/inbound
    provider_id: str
    to: str
    caller: str | None  # None: withheld, or not a phone number
    channel: Channel
    at: datetime
    body: str | None = None
    recording_url: str | None = None
    recording_seconds: int | None = None

    @property
    def external_id(self) -> str:
        """The case's ``external_id``: the provider's id only (never a number or text)."""
        return f"{self.provider}:{self.provider_id}"


class _Fingerprint(BaseModel):
    """What makes two deliveries of one provider id the same request (its hash only is kept):
    not the time of receipt, which a repeat does not share."""

    to: str
    caller: str | None
    event: str
    body_sha256: str | None


def twilio_signed(token: str | None, public_url: str | None, hook: TwilioWebhook) -> bool:
    """Whether Twilio signed this request with ``token``, for the URL it was sent to: the public
    address (behind a proxy the request's own host is not the one Twilio called) with the path
    and query string the request arrived with."""
    if not token or not public_url or not hook.signature:
        return False
    url = public_url.rstrip("/") + hook.path + (f"?{hook.query}" if hook.query else "")
    return bool(RequestValidator(token).validate(url, hook.params, hook.signature))


class Inbound(Service):
    """Inbound calls, voicemails and texts for every phone-system front end."""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.cases = Interactions(ctx)

    # ------------------------------------------------------------ front ends
    async def twilio_voice(self, hook: TwilioWebhook) -> Answer[InboundPublic]:
        """Twilio's voice webhooks (the ``<Dial>`` and ``<Record>`` actions, call status
        callbacks): a missed call, a voicemail, or nothing (an answered call)."""
        self._verify(hook)
        p = hook.params
        channel = voice_contact(
            call_status=p.get("CallStatus"),
            dial_call_status=p.get("DialCallStatus"),
            recording_url=p.get("RecordingUrl"),
            recording_duration=p.get("RecordingDuration"),
        )
        contact = self._twilio_contact(hook, "CallSid", channel or "call")
        if channel is None:
            team_id = await self._team_of(contact)
            return Answer(InboundPublic(team_id=team_id, outcome="ignored"))
        if channel == "voicemail":  # voice_contact saw a recording of whole seconds > 0
            contact = replace(
                contact,
                recording_url=p.get("RecordingUrl"),
                recording_seconds=int(p.get("RecordingDuration", "0")),
            )
        return await self._take(PHONE_SYSTEM, contact)

    async def twilio_messaging(self, hook: TwilioWebhook) -> Answer[InboundPublic]:
        """Twilio's messaging webhook: an inbound SMS or MMS is a text (or a keyword)."""
        self._verify(hook)
        contact = self._twilio_contact(hook, "MessageSid", "text")
        return await self._take(PHONE_SYSTEM, contact)

    async def receive(self, principal: Principal, body: InboundCreate) -> Answer[InboundPublic]:
        """``POST /v1/inbound``: the same for any other phone system (system tokens)."""
        access.require_interaction_starter(principal)
        to = e164(body.to)
        if to is None:
            raise Invalid(f"to: '{body.to}' is not a valid phone number in E.164")
        contact = Contact(
            provider="inbound",
            provider_id=body.provider_id,
            to=to,
            caller=e164(body.from_),
            channel=body.channel,
            at=body.at,
            body=body.body,
        )
        return await self._take(principal, contact)

    # ------------------------------------------------------------ parsing
    def _verify(self, hook: TwilioWebhook) -> None:
        if not twilio_signed(self.settings.twilio_auth_token, self.settings.public_url, hook):
            # Nothing of the request is logged: it may be anyone's.
            log.warning(
                "inbound.signature_refused",
                provider="twilio",
                path=hook.path,
                configured=bool(self.settings.twilio_auth_token and self.settings.public_url),
            )
            raise Forbidden("the request is not signed by Twilio for this address")

    def _twilio_contact(self, hook: TwilioWebhook, sid_name: str, channel: Channel) -> Contact:
        p = hook.params
        sid = p.get(sid_name) or (p.get("SmsSid") if sid_name == "MessageSid" else None)
        to = e164(p.get("To", ""))
        if not sid or len(sid) > 150:
            raise Invalid(f"a Twilio request without {sid_name}")
        if to is None:
            log.warning("inbound.unknown_number", provider="twilio", to=p.get("To", "")[:40])
            raise NotFound("no team answers this number")
        return Contact(
            provider="twilio",
            provider_id=sid,
            to=to,
            caller=e164(p.get("From", "")),
            channel=channel,
            at=self.ctx.clock(),
            body=p.get("Body") if channel == "text" else None,
        )

    async def _team_of(self, contact: Contact) -> str:
        team_id = await self.db.run(phones.team_of_number, contact.to)
        if team_id is None:
            log.warning("inbound.unknown_number", provider=contact.provider, to=contact.to)
            raise NotFound(f"no team answers {contact.to}")
        return team_id

    # ------------------------------------------------------------ taking a contact
    async def _take(self, principal: Principal, contact: Contact) -> Answer[InboundPublic]:
        now = self.ctx.clock()
        if contact.at > now + FUTURE_TOLERANCE:
            raise Invalid("at is more than 5 minutes in the future")
        if contact.at < now - MAX_BACKFILL:
            raise Invalid("at is more than 5 years in the past")
        team_id = await self._team_of(contact)
        keyword = keyword_of(contact.body) if contact.channel == "text" else None
        event = keyword[0] if keyword else contact.channel
        op = Operation.scoped("inbound", f"{team_id}|{contact.provider}", f"{contact.provider_id}|{event}")
        digest = hashlib.sha256(contact.body.encode()).hexdigest() if contact.body else None
        fingerprint = _Fingerprint(to=contact.to, caller=contact.caller, event=event, body_sha256=digest)

        async def act(_key: str) -> InboundPublic:
            if keyword is not None:
                return await self._keyword(team_id, contact, keyword)
            return await self._case(principal, team_id, contact)

        answer = await once(self.db, op, fingerprint, act, InboundPublic)
        answer = Answer(answer.value, 201 if answer.value.outcome == "opened" else 200, answer.replayed)
        log.info(
            "inbound.taken",
            provider=contact.provider,
            team_id=team_id,
            contact=event,
            outcome=answer.value.outcome,
            interaction_id=answer.value.interaction_id,
            pending=answer.value.pending,
            replayed=answer.replayed,
        )
        return answer

    async def _case(self, principal: Principal, team_id: str, contact: Contact) -> InboundPublic:
        """Open the contact's case (or find the one its provider id opened); a text with one of
        the team's screening phrases opens it with the ``safety`` flag."""
        member_id = await self.db.run(_member_of, team_id, contact.caller)
        screening = await self.db.run(_screening_phrases, team_id) if contact.channel == "text" else []
        safety = screened(contact.body, screening)
        start = CaseStart(
            team_id=team_id,
            external_id=contact.external_id,
            member_id=member_id,
            channel=contact.channel,
            received_at=contact.at,
            summary=contact.body or None,
            caller_phone=contact.caller,
            flags=["safety"] if safety else [],
        )
        pending, merged = False, False
        try:
            started = await self.cases.start(principal, start, keep_unstarted=True)
            interaction_id, opened = started.value.id, started.status == 201
            merged = started.value.merged
        except Unavailable:
            # Saved but not started (Temporal unreachable): taken all the same, if the row is there.
            row = await self.db.run(repo.get_interaction_by_external, team_id, contact.external_id)
            if row is None:
                raise
            log.warning("inbound.start_deferred", team_id=team_id, interaction_id=row.id)
            interaction_id, opened, pending = row.id, True, True
        if contact.channel == "voicemail":
            await self.db.run(_voicemail_line, interaction_id, contact)
        if safety and (opened or merged):
            # Opened with the flag, or merged into the member's open case, which the start raised
            # it on. Which phrase matched is the member's words: neither it nor the body is logged.
            await self.db.run(_screened_line, interaction_id, contact)
            log.info("inbound.screened", team_id=team_id, interaction_id=interaction_id, flag="safety")
        if contact.channel == "text" and (opened or merged) and possible_opt_out(contact.body):
            # Words that may ask for the texts to stop: the CHW reviews them; consent is unchanged.
            await self.db.run(_possible_opt_out_line, interaction_id, contact)
            log.info("inbound.possible_opt_out", team_id=team_id, interaction_id=interaction_id)
        return InboundPublic(
            team_id=team_id,
            outcome="opened" if opened else "merged" if merged else "joined",
            interaction_id=interaction_id,
            member_id=member_id,
            pending=pending,
        )

    async def _keyword(self, team_id: str, contact: Contact, keyword: tuple[Keyword, str]) -> InboundPublic:
        kind, word = keyword
        if kind == "help":  # the phone system answers HELP itself; nothing changes here
            return InboundPublic(team_id=team_id, outcome="ignored")
        status: Literal["refused", "granted"] = "refused" if kind == "opt_out" else "granted"
        changed = await self.db.run(_set_text_consent, team_id, contact, status, word)
        if contact.caller is None or not changed:
            log.info("inbound.keyword_without_member", team_id=team_id, keyword=kind)
        return InboundPublic(
            team_id=team_id,
            outcome="opted_out" if kind == "opt_out" else "opted_in",
            member_id=changed[0] if len(changed) == 1 else None,
            members=changed,
        )


# ---------------------------------------------------------------- SQL
def _member_of(session: Session, team_id: str, caller: str | None) -> str | None:
    """The member who called: the only one of the team with this number (None when nobody has
    it, or several share it: a lead decides, as for an unknown caller)."""
    if caller is None:
        return None
    found = phones.members_with_phone(session, team_id, caller)
    return found[0].id if len(found) == 1 else None


def _screening_phrases(session: Session, team_id: str) -> list[str]:
    return team_config(require_team(session, team_id)).screening


def _line(session: Session, interaction_id: str, entry: TimelineEntry) -> None:
    """One timeline line of an inbound contact, once (committed). The phone system's retry racing
    its original writes the same key at the same moment: the loser's insert changes nothing."""
    add_timeline(session, [entry], interaction_id=interaction_id)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()


def _screened_line(session: Session, interaction_id: str, contact: Contact) -> None:
    """Why the case was opened with the ``safety`` flag (once per provider id); never the phrase."""
    entry = TimelineEntry(
        key=f"inbound:{contact.external_id}:screening",
        kind="flagged",
        at=contact.at,
        details={"flag": "safety", "source": "screening"},
    )
    _line(session, interaction_id, entry)


def _possible_opt_out_line(session: Session, interaction_id: str, contact: Contact) -> None:
    """A text that may ask for the texts to stop, for the CHW to review (once per provider id).
    The line says which message, never its words (they are the case's summary or note)."""
    entry = TimelineEntry(
        key=f"inbound:{contact.external_id}:possible_opt_out",
        kind="possible_opt_out",
        at=contact.at,
        details={"channel": "text", "provider": contact.provider, "provider_id": contact.provider_id},
    )
    _line(session, interaction_id, entry)


def _voicemail_line(session: Session, interaction_id: str, contact: Contact) -> None:
    """The voicemail on the case's timeline (once per provider id), with where to hear it."""
    details: dict[str, object] = {"provider": contact.provider}
    if contact.recording_seconds is not None:
        details["recording_seconds"] = contact.recording_seconds
    if contact.recording_url:
        details["recording_url"] = contact.recording_url
    entry = TimelineEntry(
        key=f"inbound:{contact.external_id}:voicemail", kind="voicemail", at=contact.at, details=details
    )
    _line(session, interaction_id, entry)


def _set_text_consent(
    session: Session, team_id: str, contact: Contact, status: Literal["refused", "granted"], word: str
) -> list[str]:
    """Every member of the team with the sender's number: text consent ``status``, the keyword
    and the message id as its source, ``contact.at`` as when; a line on each open case of theirs.
    A keyword older than the consent in force changes nothing (messages can arrive out of order).
    The number's keyword is remembered too (``store.phones.remember_keyword``): a STOP is the
    text consent of whoever gets the number later (``services.members.put_profile``), until a
    START from it. Answers the members it set (committed)."""
    if contact.caller is None:
        return []
    team = require_team(session, team_id)
    zone = team_config(team).calendar.timezone
    source = f"{word} ({contact.provider} message {contact.provider_id})"[:_SOURCE_MAX]
    phones.remember_keyword(session, team_id, contact.caller, status, contact.at, source)
    changed: list[Member] = []
    for member in phones.members_with_phone(session, team_id, contact.caller):
        profile = profile_of(member)
        consent = profile.consent or ChannelConsent()
        current = consent_at(consent.text)
        if current is not None and current > contact.at:
            continue
        consent = consent.model_copy(update={"text": Consent(status=status, at=contact.at, source=source)})
        put_profile(session, member, profile.model_copy(update={"consent": consent}), zone)
        changed.append(member)
    for member in changed:
        open_cases = session.scalars(
            select(Interaction.id).where(
                Interaction.team_id == team_id,
                Interaction.member_id == member.id,
                Interaction.status.in_(ACTIVE_INTERACTION_STATUSES),
            )
        )
        for interaction_id in open_cases:
            entry = TimelineEntry(
                key=f"inbound:{contact.external_id}:consent:{interaction_id}",
                kind="consent_changed",
                at=contact.at,
                details={"channel": "text", "status": status, "keyword": word, "source": contact.provider},
            )
            add_timeline(session, [entry], interaction_id=interaction_id)
    session.commit()
    return [m.id for m in changed]
