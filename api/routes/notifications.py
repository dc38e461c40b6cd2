"""The notification outbox, as staff and ops read it.

The route parses, calls ``services.notifications.Notifications.page`` and answers.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import NotificationsDep, PrincipalDep
from services.public import NotificationPublic, Page

router = APIRouter(prefix="/v1/notifications", tags=["notifications"])


@router.get("")
async def list_notifications(
    principal: PrincipalDep,
    notices: NotificationsDep,
    recipient_id: str | None = None,
    interaction_id: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[NotificationPublic]:
    """Staff read their own notices; leads and managers their team's; ops and system all."""
    return await notices.page(
        principal, recipient_id=recipient_id, interaction_id=interaction_id, cursor=cursor, limit=limit
    )
