"""Workflows for tests/workflows/test_sandbox_contexts.py, in a module of their own: the sandbox
re-imports a workflow's module for each instance, and a test module would bring pytest with it."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from domain.messages import FlagInput, InteractionStatus


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


class Local:
    """A payload type of this module: each import of the module has its own class."""

    value: str = ""


@workflow.defn(name="ProbeHandlers")
class Handlers:
    """Handlers whose payload types come from a passed-through module and from this one."""

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.signal
    def flagged(self, inp: FlagInput) -> None:
        pass

    @workflow.signal
    def local(self, inp: Local) -> None:
        pass

    @workflow.query
    def status(self) -> InteractionStatus | None:
        return None
