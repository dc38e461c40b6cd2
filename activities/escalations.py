"""Escalation activities: the rule in force when an escalation starts, and the SQL projection."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from domain.messages import EscalationProjection, EscalationRuleSnapshot
from domain.models import EscalationRule, TeamConfig, Trigger, default_escalation_rule
from store import repositories as repo
from store.db import unit_of_work
from store.projection import close_ended_escalation, project_escalation

log = structlog.get_logger(__name__)
MATRICES_KEPT = 256  # teams' matrices cached per worker (a team's whole matrix is a few KB)


def _matrix_of(config: dict[str, Any]) -> dict[Trigger, EscalationRule]:
    return TeamConfig.model_validate(config).escalation_matrix


class EscalationActivities:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        # The validated matrix of each team's config in force.
        self._matrices = repo.KeptByTeamConfig(_matrix_of, kept=MATRICES_KEPT)

    @activity.defn(name="escalation_rule")
    def escalation_rule(self, team_id: str, trigger: Trigger) -> EscalationRuleSnapshot | None:
        """The team's current matrix entry for ``trigger`` and the matrix version (None: no team row)."""
        with self._sessions() as session:
            found = self._matrices.get(session, team_id)
        if found is None:
            return None
        matrix, version = found
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
