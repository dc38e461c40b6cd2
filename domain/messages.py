"""Inputs, handler arguments and state of the workflows.

Everything here crosses the Temporal boundary and so lands in workflow histories: ids,
enums and times only. Member text (summaries, notes, resolutions) never appears here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.models import (
    AttemptChannel,
    CalendarSnapshot,
    Channel,
    EscalationRule,
    Flag,
    Outcome,
    Policy,
    Trigger,
)

InteractionStatus = Literal["open", "attempting", "escalated", "resolved"]
EscalationStatus = Literal["open", "acknowledged", "resolved"]
ActorRole = Literal["system", "chw", "lead", "manager", "ops"]
NotificationKind = Literal[
    "due_soon",
    "retry_due",
    "escalation",
    "assigned",
    "unassigned",
    "digest",
    "contacted_again",
    "task_updated",
]

# Vocabularies as tuples, derived from the Literals above: SQL filters, CLI choices and metrics
# labels use these, so a status added to a Literal reaches every list at once.
INTERACTION_STATUSES: tuple[InteractionStatus, ...] = get_args(InteractionStatus)
# Still awaiting work: every status but "resolved".
ACTIVE_INTERACTION_STATUSES: tuple[InteractionStatus, ...] = tuple(
    s for s in INTERACTION_STATUSES if s != "resolved"
)
ESCALATION_STATUSES: tuple[EscalationStatus, ...] = get_args(EscalationStatus)
# Open or acknowledged: the escalation still blocks resolving its interaction.
UNRESOLVED_ESCALATION_STATUSES: tuple[EscalationStatus, ...] = tuple(
    s for s in ESCALATION_STATUSES if s != "resolved"
)
ACTOR_ROLES: tuple[ActorRole, ...] = get_args(ActorRole)
NOTIFICATION_KINDS: tuple[NotificationKind, ...] = get_args(NotificationKind)


class _Message(BaseModel):
    """The base of every model here: unknown fields are ignored, not refused.

    Histories keep these payloads for the life of a workflow, and during a rolling deploy an
    API and a worker of different releases exchange them. A field added in one release must
    not fail the other, and a field removed must not fail the histories that still carry it:
    new fields get defaults, removed ones are first no longer read, and are always accepted
    (docs/adr/message-evolution.md). HTTP bodies are validated strictly in ``services.public``.
    """

    model_config = ConfigDict(frozen=False, extra="ignore")


class AttemptRecord(_Message):
    attempt_id: str
    seq: int
    outcome: Outcome
    staff_id: str | None
    at: AwareDatetime
    # Marks of the member's contact rules (docs/rules.md §2.7); the attempt is recorded anyway.
    outside_contact_window: bool = False
    over_daily_cap: bool = False
    # Issue 21: how it was made (None: not said), and a text to a member who refused texts.
    channel: AttemptChannel | None = None
    consent_refused: bool = False


class MemberContact(_Message):
    """What a workflow needs of a member's contact rules: a zone name, the window in force
    (minutes after local midnight) and when the daily cap lets the next attempt through.
    Never the phone, postal code or any other member text."""

    zone: str
    window_start: int = Field(ge=0, le=24 * 60)
    window_end: int = Field(ge=0, le=24 * 60)
    # None: the next attempt is under the cap at any time.
    cap_clears_at: AwareDatetime | None = None
    # The member refused texts: reminders never suggest one.
    text_refused: bool = False


RetryHold = Literal["contact_window", "daily_cap", "no_overlap"]


class EscalationRef(_Message):
    """What an interaction knows of one of its escalations."""

    escalation_id: str
    workflow_id: str
    trigger: Trigger
    status: EscalationStatus = "open"


class InteractionState(_Message):
    """The state a workflow owns; the ``state`` query returns it (ids only)."""

    interaction_id: str
    team_id: str
    channel: Channel
    received_at: AwareDatetime
    status: InteractionStatus = "open"
    assignee_id: str | None = None
    # owner | absence:{id} | lead:{staff_id} | unassigned — hand-back reverts only its own.
    assignment_source: str = "owner"
    due_at: AwareDatetime
    urgent: bool = False
    flags: list[Flag] = Field(default_factory=list)
    first_response_at: AwareDatetime | None = None
    attempts: list[AttemptRecord] = Field(default_factory=list)
    unsuccessful_attempts: int = 0
    next_retry_at: AwareDatetime | None = None
    retry_reminded_seq: int = 0
    # Why the retry reminder waits past the business-hours spacing, and in which zone (§2.7).
    retry_held_by: RetryHold | None = None
    retry_zone: str | None = None
    retry_text_refused: bool = False
    due_soon_sent_for: AwareDatetime | None = None
    overdue: bool = False
    unreachable: bool = False
    triggers: list[Trigger] = Field(default_factory=list)
    escalations: list[EscalationRef] = Field(default_factory=list)
    resolved_at: AwareDatetime | None = None
    resolved_by: str | None = None
    # Bumped on every change so the SQL projection ignores stale writes.
    version: int = 0
    # The ids of the updates this case applied (the latest ``APPLIED_UPDATES_KEPT``), carried
    # across continue-as-new: a repeat under the same id answers the state and applies nothing.
    applied_updates: list[str] = Field(default_factory=list)
    # Repeat contacts merged into this case (docs/rules.md §2.10): how many contacts in all
    # (the first included) and when the latest came; ``awaiting_response`` is set when one came
    # after the first response (the member waits again, ``due_at`` counts from it) and cleared
    # by the next attempt. Defaults: a case no repeat joined (older histories).
    contacts: int = 1
    last_contact_at: AwareDatetime | None = None
    awaiting_response: bool = False
    # The deadline the first contact had (``domain.repeat_contacts.first_deadline``), kept at the
    # first merge: repeat contacts move ``due_at``, never this; the SLA report judges the first
    # response against it. None while no repeat contact has moved ``due_at`` (it is ``due_at``).
    first_due_at: AwareDatetime | None = None


class InteractionInput(_Message):
    """What the API hands a new InteractionWorkflow: ids, enums, times and a calendar snapshot."""

    interaction_id: str
    team_id: str
    external_id: str
    member_id: str
    channel: Channel
    received_at: AwareDatetime
    urgent: bool = False
    flags: list[Flag] = Field(default_factory=list)
    assignee_id: str | None = None
    assignment_source: str = "owner"
    calendar: CalendarSnapshot
    policy: Policy = Field(default_factory=Policy)
    escalation_matrix: dict[Trigger, EscalationRule] = Field(default_factory=dict)
    matrix_version: int = 1
    # The response deadline the API promised, for a case whose deadline the channel rule alone
    # cannot give (a referral: the referrer's own deadline). None: computed from the channel, as
    # before this field existed (docs/adr/message-evolution.md).
    due_at: AwareDatetime | None = None
    # Set on continue-as-new: the state carried over.
    carried_state: InteractionState | None = None
    # Continue-as-new past this many history events (None: the default, workflows.common).
    history_limit: int | None = None


class AttemptInput(_Message):
    attempt_id: str
    outcome: Outcome
    staff_id: str | None = None
    # Set by the API from the member's profile (docs/rules.md §2.7); None on older callers.
    outside_contact_window: bool = False
    over_daily_cap: bool = False
    contact: MemberContact | None = None
    # Issue 21; older callers never set them (docs/adr/message-evolution.md).
    channel: AttemptChannel | None = None
    consent_refused: bool = False


class ContactAgainInput(_Message):
    """The member contacted again while this case is open (docs/rules.md §2.10): ids, a channel
    and a time only, never what the member said. ``contact_id`` is the new contact's
    ``external_id`` (the update id is made of it, so a repeat applies once)."""

    contact_id: str
    channel: Channel
    at: AwareDatetime


class FlagInput(_Message):
    flag: Flag
    flag_id: str
    staff_id: str | None = None


class AssignInput(_Message):
    """Reassign (lead/manager); ``assignee_id`` None sends the case to the unassigned queue."""

    assignee_id: str | None
    reason: str = ""
    actor_id: str | None = None


class ResolveInput(_Message):
    actor_id: str | None = None


class TimelineEntry(_Message):
    """One audit line: ``key`` makes it idempotent (workflow id + step)."""

    key: str
    kind: str
    at: AwareDatetime
    actor_id: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class InteractionColumns(_Message):
    """The read-model columns of an interaction that its state decides (all optional: a delta
    carries only the ones that changed)."""

    status: InteractionStatus | None = None
    assignee_id: str | None = None
    assignment_source: str | None = None
    due_at: AwareDatetime | None = None
    urgent: bool | None = None
    flags: list[Flag] | None = None
    first_response_at: AwareDatetime | None = None
    next_retry_at: AwareDatetime | None = None
    overdue: bool | None = None
    unreachable: bool | None = None
    triggers: list[Trigger] | None = None
    attempt_count: int | None = None
    first_attempt_outcome: Outcome | None = None
    resolved_at: AwareDatetime | None = None
    resolved_by: str | None = None
    contacts: int | None = None
    last_contact_at: AwareDatetime | None = None
    first_due_at: AwareDatetime | None = None


class InteractionDelta(_Message):
    """What one state change wrote (runs with the ``perf-lean-history`` patch): the columns that
    changed since this run's previous projection, and the attempts it has not projected yet.

    ``base_version`` is the version that previous projection wrote (0: none in this run, so
    ``columns`` holds every column); the activity applies the delta only on top of it.
    """

    interaction_id: str
    team_id: str
    channel: Channel
    received_at: AwareDatetime
    version: int
    base_version: int = 0
    columns: dict[str, Any] = Field(default_factory=dict)
    new_attempts: list[AttemptRecord] = Field(default_factory=list)
    # The whole state (every column, every attempt): written whatever the row holds, because
    # Temporal's state is the truth (a restored, edited, missing or run-ahead row is corrected).
    full: bool = False


class InteractionProjection(_Message):
    """The projection activity's input: the state (runs before the ``perf-lean-history`` patch,
    and rejections) or a delta, plus the new timeline lines."""

    workflow_id: str
    external_id: str
    member_id: str
    state: InteractionState | None = None
    delta: InteractionDelta | None = None
    events: list[TimelineEntry] = Field(default_factory=list)
    # Set when this change raised an escalation: its first row is written in the same transaction.
    escalation: EscalationProjection | None = None


class EscalationNotice(_Message):
    """One rung of the ladder: who was told, when, at which level and why."""

    level: int
    recipient_role: Literal["lead", "manager"] | None = None
    recipient_id: str | None = None
    at: AwareDatetime
    reason: Literal["level", "repeat", "resolve_overdue", "owner"] = "level"


class EscalationState(_Message):
    escalation_id: str
    interaction_id: str
    team_id: str
    trigger: Trigger
    status: EscalationStatus = "open"
    level: int = 1
    # When the current level was (last) notified: its ack timer runs from here.
    level_notified_at: AwareDatetime
    # The latest notices only in runs with the ``perf-lean-history`` patch (the read model keeps
    # them all); ``notice_count`` counts every notice sent (0 in runs before the patch).
    notified: list[EscalationNotice] = Field(default_factory=list)
    notice_count: int = 0
    owner_id: str | None = None
    acknowledged_by: str | None = None
    acknowledged_at: AwareDatetime | None = None
    resolve_overdue_notified: bool = False
    resolved_by: str | None = None
    resolved_at: AwareDatetime | None = None
    started_at: AwareDatetime
    started_by: str | None = None
    matrix_version: int
    version: int = 0


class EscalationInput(_Message):
    """A new EscalationWorkflow: ids, the matrix rule snapshotted at start, the calendar."""

    escalation_id: str
    interaction_id: str
    interaction_workflow_id: str
    team_id: str
    trigger: Trigger
    rule: EscalationRule
    matrix_version: int
    calendar: CalendarSnapshot
    started_by: str | None = None
    started_at: AwareDatetime | None = None
    carried_state: EscalationState | None = None
    history_limit: int | None = None


class EscalationRuleSnapshot(_Message):
    rule: EscalationRule
    matrix_version: int


class AcknowledgeInput(_Message):
    escalation_id: str
    actor_id: str | None
    actor_role: ActorRole


class EscalationResolveInput(_Message):
    """Resolve; the texts stay in SQL, the workflow only learns whether they were given."""

    escalation_id: str
    actor_id: str | None
    actor_role: ActorRole
    action_taken_given: bool = False
    outcome_given: bool = False


class EscalationAssignInput(_Message):
    escalation_id: str
    owner_id: str
    actor_id: str | None
    actor_role: ActorRole


class EscalationProjection(_Message):
    workflow_id: str
    rule: EscalationRule
    state: EscalationState
    events: list[TimelineEntry] = Field(default_factory=list)
    # Runs with the ``perf-lean-history`` patch: the notices sent since the previous projection,
    # appended to the row's (``state.notified`` keeps only the latest); None: the row's list is
    # ``state.notified``.
    new_notices: list[EscalationNotice] | None = None


class NotificationRequest(_Message):
    """One notice to write to the outbox; a role fans out to every staff member with it."""

    key: str
    team_id: str
    kind: NotificationKind
    recipient_id: str | None = None
    recipient_role: Literal["lead", "manager"] | None = None
    interaction_id: str | None = None
    escalation_id: str | None = None
    trigger: Trigger | None = None
    details: dict[str, Any] = Field(default_factory=dict)


def iso(dt: datetime) -> str:
    return dt.isoformat()


# ---------------------------------------------------------------- absences and coverage
AbsenceStatus = Literal["scheduled", "active", "ended", "cancelled"]
CoverageAction = Literal["start", "end"]
ABSENCE_STATUSES: tuple[AbsenceStatus, ...] = get_args(AbsenceStatus)
# Not over yet: the absence can still be changed or cancelled, and blocks overlapping ones.
PENDING_ABSENCE_STATUSES: tuple[AbsenceStatus, ...] = ("scheduled", "active")
FINISHED_ABSENCE_STATUSES: tuple[AbsenceStatus, ...] = tuple(
    s for s in ABSENCE_STATUSES if s not in PENDING_ABSENCE_STATUSES
)
COVERAGE_ACTIONS: tuple[CoverageAction, ...] = get_args(CoverageAction)


class CoverageInput(_Message):
    """The ``coverage`` signal an AbsenceWorkflow sends each affected InteractionWorkflow.

    ``start`` moves a case still assigned to the absent CHW to the backup (or the unassigned
    queue); ``end`` hands back a case this absence moved. Repeating a signal changes nothing.
    """

    absence_id: str
    action: CoverageAction
    absent_staff_id: str
    backup_id: str | None = None


class AbsenceState(_Message):
    """What an AbsenceWorkflow owns (ids and times only); the ``state`` query returns it."""

    absence_id: str
    team_id: str
    staff_id: str
    backup_id: str | None = None
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    status: AbsenceStatus = "scheduled"
    started_at: AwareDatetime | None = None
    ended_at: AwareDatetime | None = None
    # Interaction workflows signalled by the start and end fan-outs (not all of them moved).
    signalled_at_start: int = 0
    signalled_at_end: int = 0
    version: int = 0


class AbsenceInput(_Message):
    absence_id: str
    team_id: str
    staff_id: str
    backup_id: str | None = None
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    # Continue-as-new once the history is longer than this (a parameter so tests can use a small one).
    history_limit: int = Field(default=2000, gt=0)
    carried_state: AbsenceState | None = None


class AbsenceChangeInput(_Message):
    """Extend or shorten: a new ``ends_at``."""

    ends_at: AwareDatetime
    actor_id: str | None = None


class AbsenceCancelInput(_Message):
    actor_id: str | None = None


class AbsenceProjection(_Message):
    workflow_id: str
    state: AbsenceState
    events: list[TimelineEntry] = Field(default_factory=list)


class FanoutInput(_Message):
    """Which interaction workflows to signal, and the coverage signal to send them."""

    team_id: str
    coverage: CoverageInput
    batch_size: int = Field(default=100, gt=0)


class FanoutResult(_Message):
    signalled: int = 0
    closed: int = 0


# ---------------------------------------------------------------- check-ins
class CheckinInput(_Message):
    """A team's CheckinWorkflow: the calendar it follows and the last check-in it sent."""

    team_id: str
    calendar: CalendarSnapshot
    last_sent_at: AwareDatetime | None = None
    history_limit: int = Field(default=2000, gt=0)


class DigestInput(_Message):
    """One check-in: who is on duty and what they have is read from SQL as of ``at``."""

    workflow_id: str
    team_id: str
    moment: Literal["opening", "midday", "before_close"]
    at: AwareDatetime
    day_end: AwareDatetime


class TeamCalendarInput(_Message):
    team_id: str
    around: AwareDatetime


InteractionProjection.model_rebuild()


# ---------------------------------------------------------------- notification grouping (§2.8)
class GroupAdd(_Message):
    """Notices (outbox row ids) for a recipient's grouping workflow; a repeat is harmless."""

    notification_ids: list[int]
    # When the first of them was written (the group wait counts from it).
    at: AwareDatetime


class GroupInput(_Message):
    team_id: str
    recipient_id: str
    group_wait_seconds: int = 30
    group_interval_minutes: int = 5
    repeat_interval_minutes: int = 60
    max_items_per_delivery: int = 50
    # Carried over continue-as-new.
    pending: list[int] = Field(default_factory=list)
    first_pending_at: AwareDatetime | None = None
    last_delivery_at: AwareDatetime | None = None


class DeliveryRequest(_Message):
    delivery_id: str
    team_id: str
    recipient_id: str
    notification_ids: list[int]
