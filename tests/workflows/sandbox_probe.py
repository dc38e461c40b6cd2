"""Workflows for tests/workflows/test_sandbox_contexts.py, in a module of their own: the sandbox
re-imports a workflow's module for each instance, and a test module would bring pytest with it."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import activity, workflow


@activity.defn(name="probe_echo")
async def echo(value: str) -> str:
    return value


@workflow.defn(name="ProbeEcho")
class Echo:
    """Hands its input to an activity and answers what came back."""

    @workflow.run
    async def run(self, value: str) -> str:
        return str(await workflow.execute_activity(echo, value, start_to_close_timeout=timedelta(seconds=30)))


@workflow.defn(name="ProbeWallClock")
class WallClock:
    """Reads the wall clock inside workflow code: the sandbox must refuse it."""

    @workflow.run
    async def run(self) -> str:
        return datetime.now().isoformat()  # noqa: DTZ005 - the call the sandbox must catch
