"""Inbound calls, voicemails and texts from the phone system (docs/channels.md).

Twilio's webhooks are form-encoded and signed (``X-Twilio-Signature``), not bearer-authenticated:
each route reads the form, hands it to one method of ``services.inbound.Inbound`` (which checks
the signature: 403 and nothing changed when it is wrong) and answers empty TwiML. Any other phone
system posts JSON to ``POST /v1/inbound`` with a system token.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from api.deps import InboundDep, PrincipalDep
from api.idempotency import answer
from services.inbound import TwilioWebhook
from services.public import InboundCreate, InboundPublic

router = APIRouter(prefix="/v1/inbound", tags=["inbound"])

# What Twilio is told to do next: nothing (the team's own TwiML on the number does the talking).
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
TWIML_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/xml": {"example": EMPTY_TWIML}}, "description": "empty TwiML"},
    403: {"description": "not signed by Twilio for this address (or no TWILIO_AUTH_TOKEN / PUBLIC_URL)"},
    404: {"description": "no team answers the number called (`To`)"},
}


async def _webhook(request: Request) -> TwilioWebhook:
    form = await request.form()
    params = {key: value for key, value in form.items() if isinstance(value, str)}
    return TwilioWebhook(
        path=request.url.path,
        query=request.url.query,
        params=params,
        signature=request.headers.get("x-twilio-signature"),
    )


def _twiml() -> Response:
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.post("/twilio/voice", response_class=Response, responses=TWIML_RESPONSES)
async def twilio_voice(request: Request, inbound: InboundDep) -> Response:
    """Twilio voice webhooks: a missed call (`CallStatus`/`DialCallStatus` no-answer, busy,
    failed, canceled) or a voicemail (`RecordingUrl`, `RecordingDuration` > 0) opens a case; the
    same `CallSid` again lands on the same case; an answered call changes nothing."""
    await inbound.twilio_voice(await _webhook(request))
    return _twiml()


@router.post("/twilio/messaging", response_class=Response, responses=TWIML_RESPONSES)
async def twilio_messaging(request: Request, inbound: InboundDep) -> Response:
    """Twilio messaging webhook: an inbound SMS/MMS opens a case (channel `text`), or, when its
    whole body is an opt-out keyword (STOP, START, …), changes the member's text consent."""
    await inbound.twilio_messaging(await _webhook(request))
    return _twiml()


@router.post("", status_code=201, response_model=InboundPublic)
async def receive(body: InboundCreate, principal: PrincipalDep, inbound: InboundDep) -> JSONResponse:
    """One call, voicemail or text from any other phone system (system tokens): 201 when it
    opened a case, 200 otherwise; the same `provider_id` again changes nothing."""
    return answer(await inbound.receive(principal, body))
