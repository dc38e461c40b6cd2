"""Rows to public schemas: the one place that shapes what the API answers."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from domain.deadlines import sla_met
from services.public import (
    AbsencePublic,
    AttemptPublic,
    EscalationNoticePublic,
    EscalationPublic,
    InteractionPublic,
    MemberPublic,
    NotificationPublic,
    StaffPublic,
    TimelinePublic,
)
from store import repositories as repo
from store.models import Absence, Attempt, Escalation, Interaction, Member, Notification, Staff, TimelineEvent


def interactions(
    session: Session, rows: Sequence[Interaction], *, with_timeline: bool = False
) -> list[InteractionPublic]:
    attempts = repo.attempts_of(session, [r.id for r in rows])
    escalations = repo.escalations_of_interactions(session, [r.id for r in rows])
    reached = repo.escalation_recipients(session, [e.id for found in escalations.values() for e in found])
    out = []
    for r in rows:
        timeline = None
        if with_timeline:
            timeline = [TimelinePublic.model_validate(e) for e in repo.timeline_of(session, r.id)]
        out.append(
            _interaction(
                r,
                attempts[r.id],
                [escalation(e, recipients=reached.get(e.id)) for e in escalations[r.id]],
                timeline,
            )
        )
    return out


def new_interaction(row: Interaction) -> InteractionPublic:
    """A case as the request that inserted it wrote it (no attempts, escalations or timeline yet):
    a start's answer, with nothing read back."""
    return _interaction(row, [], [], None)


def _interaction(
    r: Interaction,
    attempts: Sequence[Attempt],
    escalations: list[EscalationPublic],
    timeline: list[TimelinePublic] | None,
) -> InteractionPublic:
    return InteractionPublic(
        id=r.id,
        workflow_id=r.workflow_id,
        team_id=r.team_id,
        external_id=r.external_id,
        member_id=r.member_id,
        channel=r.channel,
        status=r.status,
        assignee_id=r.assignee_id,
        assignment_source=r.assignment_source,
        received_at=r.received_at,
        due_at=r.due_at,
        first_due_at=r.first_due_at,
        first_response_at=r.first_response_at,
        sla_met=sla_met(r.first_response_at, r.first_due_at),  # the first contact's deadline
        next_retry_at=r.next_retry_at,
        urgent=r.urgent,
        flags=list(r.flags),
        overdue=r.overdue,
        unreachable=r.unreachable,
        triggers=list(r.triggers),
        summary=r.summary,
        resolution=r.resolution,
        caller_phone=r.caller_phone,
        referral=r.referral,
        resolved_at=r.resolved_at,
        resolved_by=r.resolved_by,
        contacts=r.contacts,
        last_contact_at=r.last_contact_at,
        attempts=[
            AttemptPublic(
                id=a.id,
                seq=a.seq,
                outcome=a.outcome,
                staff_id=a.staff_id,
                at=a.at,
                note=a.note,
                outside_contact_window=a.outside_contact_window,
                over_daily_cap=a.over_daily_cap,
                channel=a.channel,
                consent_refused=a.consent_refused,
                override_reason=a.override_reason,
            )
            for a in attempts
        ],
        escalations=escalations,
        timeline=timeline,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


def interaction(session: Session, row: Interaction) -> InteractionPublic:
    """One interaction with its timeline (the detail page and every action's answer), read
    afresh in ``session`` so the row and its timeline come from one snapshot."""
    fresh = repo.get_interaction(session, row.id) or row
    return interactions(session, [fresh], with_timeline=True)[0]


def interaction_summary(session: Session, row: Interaction) -> InteractionPublic:
    """One interaction without its timeline (the answer to a start), read afresh."""
    fresh = repo.get_interaction(session, row.id) or row
    return interactions(session, [fresh])[0]


def escalation(
    e: Escalation,
    *,
    timeline: Sequence[TimelineEvent] | None = None,
    recipients: dict[int, list[str]] | None = None,
) -> EscalationPublic:
    return EscalationPublic(
        id=e.id,
        workflow_id=e.workflow_id,
        interaction_id=e.interaction_id,
        team_id=e.team_id,
        trigger=e.trigger,
        severity=e.severity,
        status=e.status,
        level=e.level,
        levels=len(e.rule.get("levels", [])),
        clock=e.clock,
        documentation_required=e.documentation_required,
        matrix_version=e.matrix_version,
        rule=e.rule,
        notified=[
            EscalationNoticePublic.model_validate({**n, "recipients": (recipients or {}).get(i, [])})
            for i, n in enumerate(e.notified, start=1)
        ],
        owner_id=e.owner_id,
        started_at=e.started_at,
        started_by=e.started_by,
        acknowledged_by=e.acknowledged_by,
        acknowledged_at=e.acknowledged_at,
        resolved_by=e.resolved_by,
        resolved_at=e.resolved_at,
        action_taken=e.action_taken,
        outcome=e.outcome,
        timeline=None if timeline is None else [TimelinePublic.model_validate(t) for t in timeline],
    )


def escalations(session: Session, rows: Sequence[Escalation]) -> list[EscalationPublic]:
    reached = repo.escalation_recipients(session, [e.id for e in rows])
    return [escalation(e, recipients=reached.get(e.id)) for e in rows]


def escalation_detail(session: Session, row: Escalation) -> EscalationPublic:
    """One escalation with its level history (``notified``) and timeline (one snapshot)."""
    row = repo.get_escalation(session, row.id) or row
    return escalation(
        row,
        timeline=repo.escalation_timeline(session, row.id),
        recipients=repo.escalation_recipients(session, [row.id]).get(row.id),
    )


def absences(
    session: Session, rows: Sequence[Absence], *, with_timeline: bool = False
) -> list[AbsencePublic]:
    out = []
    for r in rows:
        timeline = None
        if with_timeline:
            timeline = [TimelinePublic.model_validate(e) for e in repo.absence_timeline(session, r.id)]
        out.append(
            AbsencePublic(
                id=r.id,
                workflow_id=r.workflow_id,
                team_id=r.team_id,
                staff_id=r.staff_id,
                backup_id=r.backup_id,
                starts_at=r.starts_at,
                ends_at=r.ends_at,
                status=r.status,
                started_at=r.started_at,
                ended_at=r.ended_at,
                reason=r.reason,
                created_by=r.created_by,
                timeline=timeline,
                created_at=r.created_at,
                updated_at=r.updated_at,
            )
        )
    return out


def absence(session: Session, row: Absence) -> AbsencePublic:
    fresh = repo.get_absence(session, row.id) or row
    return absences(session, [fresh], with_timeline=True)[0]


def staff(s: Staff) -> StaffPublic:
    return StaffPublic(id=s.id, team_id=s.team_id, name=s.name, role=s.role)


def member(m: Member, window: list[str] | None = None) -> MemberPublic:
    return MemberPublic(
        id=m.id,
        team_id=m.team_id,
        owner_id=m.owner_id,
        profile=dict(m.profile or {}),
        timezone=m.zone,
        timezone_source=m.zone_source,
        contact_window=window,
    )


def notification(n: Notification) -> NotificationPublic:
    return NotificationPublic(
        id=n.id,
        recipient_id=n.recipient_id,
        team_id=n.team_id,
        kind=n.kind,
        interaction_id=n.interaction_id,
        escalation_id=n.escalation_id,
        trigger=n.trigger,
        details=n.payload,
        created_at=n.created_at,
        delivered_at=n.delivered_at,
        delivery_id=n.delivery_id,
        inhibited_by=n.inhibited_by,
    )
