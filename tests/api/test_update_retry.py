"""An update lost to a failed workflow task (the server answers WorkflowNotReady: the task that
carried it was refused, so nothing was applied) is sent again under the same id; one that keeps
failing becomes a 503 that says what happened, not "Temporal is not reachable"."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import any_pb2
from pydantic import BaseModel
from temporalio.api.common.v1 import GrpcStatus
from temporalio.api.errordetails.v1 import WorkflowNotReadyFailure
from temporalio.service import RPCError, RPCStatusCode

from domain.errors import Unavailable
from services import common


class Arg(BaseModel):
    actor_id: str = "chw-ana"


def not_ready() -> RPCError:
    detail = any_pb2.Any()
    detail.Pack(WorkflowNotReadyFailure())
    message = "Unable to perform workflow execution update due to unexpected workflow task failure."
    status = GrpcStatus(code=RPCStatusCode.FAILED_PRECONDITION.value, message=message, details=[detail])
    return RPCError(message, RPCStatusCode.FAILED_PRECONDITION, status.SerializeToString())


class Handle:
    def __init__(self, failures: int, error: RPCError) -> None:
        self.failures = failures
        self.error = error
        self.ids: list[str] = []

    async def execute_update(self, update: str, arg: Any, *, id: str, **_: Any) -> str:
        self.ids.append(id)
        if len(self.ids) <= self.failures:
            raise self.error
        return "applied"


class Client:
    def __init__(self, handle: Handle) -> None:
        self.handle = handle

    def get_workflow_handle(self, workflow_id: str) -> Handle:
        return self.handle


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "NOT_READY_PAUSES", (0.0, 0.0, 0.0))


async def update(handle: Handle) -> str:
    return await common.run_update(
        Client(handle),  # type: ignore[arg-type]
        "interaction:t:x",
        "resolve",
        Arg(),
        result_type=str,
        closed="the interaction has ended",
        update_id="key-1",
    )


async def test_an_update_lost_to_a_failed_workflow_task_is_sent_again_under_the_same_id() -> None:
    handle = Handle(failures=2, error=not_ready())
    assert await update(handle) == "applied"
    assert handle.ids == ["key-1"] * 3


async def test_an_update_that_keeps_failing_is_a_503_that_says_nothing_was_applied() -> None:
    handle = Handle(failures=99, error=not_ready())
    with pytest.raises(Unavailable, match="nothing was applied"):
        await update(handle)
    assert len(handle.ids) == len(common.NOT_READY_PAUSES) + 1


async def test_an_outage_is_not_retried_here() -> None:
    handle = Handle(failures=1, error=RPCError("down", RPCStatusCode.UNAVAILABLE, b""))
    with pytest.raises(Unavailable, match="not reachable"):
        await update(handle)
    assert handle.ids == ["key-1"]
