"""Codec server for the Temporal UI and CLI: ``POST /codec/encode`` and ``POST /codec/decode``.

The Temporal codec-server protocol: the body is a ``Payloads`` message in protobuf JSON,
``{"payloads": [{"metadata": {"encoding": "<base64>"}, "data": "<base64>"}]}``, and the answer
has the same shape. Point the UI's codec endpoint, or the CLI's ``--codec-endpoint``, at
``http(s)://<api>/codec``; the CLI passes the token with ``--codec-auth 'Bearer <token>'``.

Only ``ops`` and ``system`` may use it (the Temporal UI sends the signed-in operator's OIDC
token; the CLI a token with ``--codec-auth``): a payload may belong to any team, so a CHW or a
lead gets 403. Malformed input (not protobuf JSON, not base64, ciphertext too short, tampered or
sealed with a key we do not hold) is a 422 that names no key; a body over
``FOLLOWTHROUGH_CODEC_MAX_BODY_BYTES`` is a 413. Without a ``FOLLOWTHROUGH_CODEC_KEY`` the
endpoints answer 404 with a message saying so: there is nothing to decode.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import APIRouter, Request
from google.protobuf import json_format
from pydantic import BaseModel, ConfigDict, Field
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.api.common.v1 import Payload, Payloads

from api.deps import PrincipalDep
from api.errors import body as error_body
from domain.errors import Invalid, NotFound
from services.access import Principal
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
    except (json_format.ParseError, ValueError):
        raise Invalid("payloads are not valid protobuf JSON (base64 metadata values and data)") from None
    try:
        result = await fn(message.payloads)
    except CodecError as err:
        raise Invalid(str(err)) from None
    out: dict[str, Any] = json_format.MessageToDict(Payloads(payloads=result))
    return CodecPayloads.model_validate({"payloads": out.get("payloads", [])})


def _ops_only(principal: Principal) -> None:
    principal.require(
        principal.role in ("ops", "system"), "only ops and the system may use the codec endpoint"
    )


@router.post("/encode")
async def encode(body: CodecPayloads, request: Request, principal: PrincipalDep) -> CodecPayloads:
    """Encrypt payloads (the UI and CLI use it to send signal/update/start input)."""
    _ops_only(principal)
    return await _apply(body, _codec(request).encode)


@router.post("/decode")
async def decode(body: CodecPayloads, request: Request, principal: PrincipalDep) -> CodecPayloads:
    """Decrypt payloads for display; payloads that are not encrypted come back unchanged."""
    _ops_only(principal)
    return await _apply(body, _codec(request).decode_for_display)


class CodecCORSMiddleware:
    """CORS for the Temporal UI origins on the codec routes only; the rest of the API stays closed.

    The browser's preflight carries no token: it is answered here, before any auth runs. A UI
    signed in through OIDC sends the ID token too, as ``Authorization-Extras``, next to
    ``Authorization``: the preflight must allow both, or the browser sends neither.
    """

    def __init__(self, app: ASGIApp, origins: Sequence[str], max_body: int = 4 * 1024 * 1024) -> None:
        self.app = app
        self.max_body = max_body
        self.cors = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_methods=["POST"],
            allow_headers=["Authorization", "Authorization-Extras", "Content-Type", "X-Namespace"],
            allow_credentials=True,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            if scope["method"] == "POST":
                body = await self._read_capped(scope, receive)
                if body is None:
                    response = JSONResponse(
                        error_body("too_large", f"a codec request body may be at most {self.max_body} bytes"),
                        status_code=413,
                    )
                    await response(scope, receive, send)
                    return
                receive = _replay(body)
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _read_capped(self, scope: Scope, receive: Receive) -> bytes | None:
        """The whole body, or None when it is over the cap (by Content-Length or as it streams)."""
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body:
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive
