"""What every workflow shares: activity options and the errors validators raise."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

PROJECTION_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)),
}
# Notices are never dropped: unlimited attempts, backing off to one try every 10 minutes.
NOTIFY_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=2), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=10)
    ),
}
# Continue-as-new once a run's history passes this many events (well below Temporal's limits).
HISTORY_LIMIT = 2000


def conflict(message: str) -> ApplicationError:
    """A business-rule rejection: the API maps type ``Conflict`` to 409."""
    return ApplicationError(message, type="Conflict", non_retryable=True)


def denied(message: str) -> ApplicationError:
    """The caller may not do this: the API maps type ``PermissionDenied`` to 403."""
    return ApplicationError(message, type="PermissionDenied", non_retryable=True)


def invalid(message: str) -> ApplicationError:
    """Bad input (e.g. missing documentation): the API maps type ``Invalid`` to 422."""
    return ApplicationError(message, type="Invalid", non_retryable=True)
