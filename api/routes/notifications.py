"""The notification outbox, as staff and ops read it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import PrincipalDep, SessionDep
from api.schemas import NotificationPublic, Page
from domain.errors import Forbidden, Invalid
from store import repositories as repo

router = APIRouter(prefix="/v1/notifications", tags=["notifications"])


@router.get("")
def list_notifications(
    principal: PrincipalDep,
    session: SessionDep,
    recipient_id: str | None = None,
    interaction_id: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[NotificationPublic]:
    """Staff read their own notices; leads and managers their team's; ops and system all."""
    team_ids: list[str] | None = None
    if principal.role == "chw":
        if recipient_id is not None and recipient_id != principal.staff_id:
            raise Forbidden("a CHW reads only their own notifications")
        recipient_id = principal.staff_id
    elif principal.role in ("lead", "manager"):
        team_ids = [principal.team_id or ""]
        if recipient_id is not None:
            recipient = repo.get_staff(session, recipient_id)
            if recipient is not None and recipient.team_id != principal.team_id:
                raise Forbidden("leads and managers read only their own team's notifications")
    try:
        rows, next_cursor = repo.list_notifications(
            session,
            recipient_id=recipient_id,
            team_ids=team_ids,
            interaction_id=interaction_id,
            cursor=cursor,
            limit=limit,
        )
    except repo.BadCursor as err:
        raise Invalid(str(err)) from err
    items = [
        NotificationPublic(
            id=n.id,
            recipient_id=n.recipient_id,
            team_id=n.team_id,
            kind=n.kind,
            interaction_id=n.interaction_id,
            escalation_id=n.escalation_id,
            trigger=n.trigger,
            details=n.payload,
            created_at=n.created_at,
            delivered_at=n.delivered_at,
        )
        for n in rows
    ]
    return Page(items=items, next_cursor=next_cursor)
