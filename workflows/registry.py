"""Every workflow the worker registers.

Kept out of ``workflows/__init__`` on purpose: the workflow sandbox re-imports a workflow's
module (and its package) for every new workflow instance, so a package ``__init__`` that imported
all five workflows made each new case compile and run all of them (30 % of the worker's time
when thousands of deadlines fall due at once, bench P3).
"""

from __future__ import annotations

from workflows.absence import AbsenceWorkflow
from workflows.checkin import CheckinWorkflow
from workflows.escalation import EscalationWorkflow
from workflows.interaction import InteractionWorkflow
from workflows.notification_group import NotificationGroupWorkflow

ALL_WORKFLOWS: list[type] = [
    InteractionWorkflow,
    EscalationWorkflow,
    AbsenceWorkflow,
    CheckinWorkflow,
    NotificationGroupWorkflow,
]
