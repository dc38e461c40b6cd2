"""The notification outbox, as staff and ops read it (``Notifications``).

Staff read their own notices; leads and managers their team's; ops and the system all.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from domain.errors import Forbidden, Invalid
from services import presenters
from services.access import Principal
from services.context import Service
from services.public import NotificationPublic, Page
from store import repositories as repo


class Notifications(Service):
    """Notices for every front end, scoped to who reads them."""

    async def page(
        self,
        principal: Principal,
        *,
        recipient_id: str | None = None,
        interaction_id: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> Page[NotificationPublic]:
        """The notices ``principal`` may read, oldest first: a CHW their own; a lead or manager
        their team's (``recipient_id`` of their team only); ops and the system all."""

        def page(session: Session) -> Page[NotificationPublic]:
            team_ids: list[str] | None = None
            recipient = recipient_id
            if principal.role == "chw":
                if recipient is not None and recipient != principal.staff_id:
                    raise Forbidden("a CHW reads only their own notifications")
                recipient = principal.staff_id
            elif principal.role in ("lead", "manager"):
                team_ids = [principal.team_id or ""]
                if recipient is not None:
                    # An unknown id answers as another team's does: nothing tells which ids exist.
                    staff = repo.get_staff(session, recipient)
                    if staff is None or staff.team_id != principal.team_id:
                        raise Forbidden("leads and managers read only their own team's notifications")
            try:
                rows, next_cursor = repo.list_notifications(
                    session,
                    recipient_id=recipient,
                    team_ids=team_ids,
                    interaction_id=interaction_id,
                    cursor=cursor,
                    limit=limit,
                )
            except repo.BadCursor as err:
                raise Invalid(str(err)) from err
            return Page(items=[presenters.notification(n) for n in rows], next_cursor=next_cursor)

        return await self.db.read(page)
