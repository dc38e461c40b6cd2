"""Worker interceptors: every log line an activity writes names the workflow it works for."""

from __future__ import annotations

from typing import Any

import structlog
from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)


class ActivityLogContext(Interceptor):
    """Bind workflow id, run id, activity type and attempt to structlog's context per activity.

    Only Temporal ids go in: the workflow id is ``interaction:{team}:{external_id}``, opaque
    ids, never member data. Sync activities run in the worker's thread pool; the SDK copies
    the context into the thread, so the binding reaches them too.
    """

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _BindActivityContext(next)


class _BindActivityContext(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        with structlog.contextvars.bound_contextvars(
            workflow_id=info.workflow_id,
            workflow_run_id=info.workflow_run_id,
            activity_type=info.activity_type,
            activity_attempt=info.attempt,
        ):
            return await super().execute_activity(input)
