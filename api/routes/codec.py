"""Codec server for the Temporal UI and CLI: ``POST /codec/encode`` and ``POST /codec/decode``.

The Temporal codec-server protocol: the body is a ``Payloads`` message in protobuf JSON,
``{"payloads": [{"metadata": {"encoding": "<base64>"}, "data": "<base64>"}]}``, and the answer
has the same shape. Point the UI's codec endpoint, or the CLI's ``--codec-endpoint``, at
``http(s)://<api>/codec``; the CLI passes the token with ``--codec-auth 'Bearer <token>'``.

Any valid token may use it: every role reads something, and payloads carry ids only. Without
a ``FOLLOWTHROUGH_CODEC_KEY`` the endpoints answer 404 with a message saying so: there is
nothing to decode, and a UI pointed here by mistake should learn why.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import APIRouter, Request
from google.protobuf import json_format
from pydantic import BaseModel, ConfigDict, Field
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.api.common.v1 import Payload, Payloads

from api.deps import PrincipalDep
from domain.errors import Invalid, NotFound
from workers.codec import CodecError, EncryptionCodec

router = APIRouter(prefix="/codec", tags=["codec"])

PREFIX = "/codec/"


class CodecPayload(BaseModel):
    """One ``temporal.api.common.v1.Payload`` in protobuf JSON: bytes are base64."""

    model_config = ConfigDict(extra="allow")

    metadata: dict[str, str] = Field(default_factory=dict, description="metadata values, base64")
    data: str = Field("", description="payload bytes, base64")


class CodecPayloads(BaseModel):
    payloads: list[CodecPayload]


def _codec(request: Request) -> EncryptionCodec:
    codec: EncryptionCodec | None = request.app.state.codec
    if codec is None:
        raise NotFound("payload encryption is off (no FOLLOWTHROUGH_CODEC_KEY): there is nothing to decode")
    return codec


async def _apply(
    body: CodecPayloads, fn: Callable[[Sequence[Payload]], Awaitable[list[Payload]]]
) -> CodecPayloads:
    try:
        message = json_format.ParseDict(body.model_dump(), Payloads(), ignore_unknown_fields=True)
    except json_format.ParseError as err:
        raise Invalid(f"payloads are not valid protobuf JSON: {err}") from err
    try:
        result = await fn(message.payloads)
    except CodecError as err:
        raise Invalid(str(err)) from err
    out: dict[str, Any] = json_format.MessageToDict(Payloads(payloads=result))
    return CodecPayloads.model_validate({"payloads": out.get("payloads", [])})


@router.post("/encode")
async def encode(body: CodecPayloads, request: Request, _: PrincipalDep) -> CodecPayloads:
    """Encrypt payloads (the UI and CLI use it to send signal/update/start input)."""
    return await _apply(body, _codec(request).encode)


@router.post("/decode")
async def decode(body: CodecPayloads, request: Request, _: PrincipalDep) -> CodecPayloads:
    """Decrypt payloads for display; payloads that are not encrypted come back unchanged."""
    return await _apply(body, _codec(request).decode)


class CodecCORSMiddleware:
    """CORS for the Temporal UI origins on the codec routes only; the rest of the API stays closed.

    The browser's preflight carries no token: it is answered here, before any auth runs.
    """

    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_methods=["POST"],
            allow_headers=["Authorization", "Content-Type", "X-Namespace"],
            allow_credentials=True,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
