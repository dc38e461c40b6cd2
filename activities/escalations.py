"""Escalation activities: the rule in force when an escalation starts, and the SQL projection."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from domain.messages import EscalationProjection, EscalationRuleSnapshot
from domain.models import EscalationRule, TeamConfig, Trigger, default_escalation_rule
from store.db import unit_of_work
from store.models import Team
from store.projection import close_ended_escalation, project_escalation

log = structlog.get_logger(__name__)
MATRICES_KEPT = 256  # teams' matrices cached per worker (a team's whole matrix is a few KB)


class EscalationActivities:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        # The validated matrix of the team's config, by (team, version, updated_at): every change
        # of a team's config bumps both (store.repositories.upsert_team), so a cached matrix is
        # the one in force. At 17:00 every overdue case of a team asks for the same one.
        self._matrices: dict[tuple[str, int, object], dict[Trigger, EscalationRule]] = {}
        self._lock = threading.Lock()

    @activity.defn(name="escalation_rule")
    def escalation_rule(self, team_id: str, trigger: Trigger) -> EscalationRuleSnapshot | None:
        """The team's current matrix entry for ``trigger`` and the matrix version (None: no team row)."""
        with self._sessions() as session:
            # The version first (the config's JSON is decoded only when the cache lacks it).
            found = session.execute(select(Team.version, Team.updated_at).where(Team.id == team_id)).first()
            if found is None:
                return None
            version, updated_at = found
            key = (team_id, version, updated_at)
            with self._lock:
                matrix = self._matrices.get(key)
            if matrix is None:  # the version again, with the config it goes with
                whole = session.execute(
                    select(Team.version, Team.updated_at, Team.config).where(Team.id == team_id)
                ).one()
                version, key = whole.version, (team_id, whole.version, whole.updated_at)
                matrix = TeamConfig.model_validate(whole.config).escalation_matrix
                with self._lock:
                    if len(self._matrices) > MATRICES_KEPT:
                        self._matrices.clear()
                    self._matrices[key] = matrix
            rule: EscalationRule = matrix.get(trigger) or default_escalation_rule(trigger)
            return EscalationRuleSnapshot(rule=rule, matrix_version=version)

    @activity.defn(name="sync_escalation")
    def sync_escalation(self, projection: EscalationProjection) -> None:
        with unit_of_work(self._sessions) as session:
            project_escalation(session, projection, datetime.now(UTC))
        log.debug(
            "escalation.projected",
            escalation_id=projection.state.escalation_id,
            version=projection.state.version,
        )

    @activity.defn(name="end_escalation")
    def end_escalation(self, escalation_id: str, reason: str) -> None:
        """Close the row of an escalation whose workflow ended without resolving it (terminated,
        failed, timed out): it leaves the open lists; its timeline says why."""
        with unit_of_work(self._sessions) as session:
            close_ended_escalation(session, escalation_id, reason, datetime.now(UTC))
        log.warning("escalation.ended_unresolved", escalation_id=escalation_id, reason=reason)
