"""Mounting the console on the API: its pages, static files, and HTML answers for errors."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from temporalio.client import WorkflowUpdateFailedError

from api import errors
from api.console import absences, escalations, interaction, live, queues, report, sign_in
from api.console.common import EVENT_POLL_SECONDS, HERE, SignInRequired, render
from domain.errors import DomainError
from services.common import from_update_failure
from services.queues import Queues


def install(app: FastAPI) -> None:
    """Mount the console: its routes, static files, and HTML answers for errors under /console."""
    marks = Queues(app.state.context).change_mark
    app.state.console_feeds = live.ChangeFeeds(marks, interval=EVENT_POLL_SECONDS)
    for page in (sign_in, queues, interaction, escalations, absences, report, live):
        app.include_router(page.router)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")

    # A person who opens the server's address lands on the console; browsers find its icon.
    @app.get("/", include_in_schema=False)
    async def _home() -> Response:
        return RedirectResponse("/console", status_code=307)

    @app.get("/favicon.ico", include_in_schema=False)
    async def _favicon() -> Response:
        return FileResponse(HERE / "static" / "favicon.svg", media_type="image/svg+xml")

    def html_error(request: Request, status: int, message: str) -> Response:
        if status == 401:
            return RedirectResponse("/console/sign-in", status_code=303)
        title = {403: "Not allowed", 404: "Not found", 422: "Check your input"}.get(
            status, "Something went wrong"
        )
        principal = getattr(request.state, "console_principal", None)
        return render(
            request, "error.html", {"title": title, "message": message}, principal=principal, status=status
        )

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _: SignInRequired) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/console/sign-in"})
        if request.url.path == "/console/events":
            return Response(status_code=204)
        return RedirectResponse("/console/sign-in", status_code=303)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        if request.url.path.startswith("/console"):
            return html_error(request, errors.status_of(exc), exc.message)
        return errors.respond(exc)

    api_validation = app.exception_handlers[RequestValidationError]

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        if request.url.path.startswith("/console"):
            return html_error(request, 422, "invalid input")
        response: Response = await api_validation(request, exc)  # type: ignore[misc]
        return response

    @app.exception_handler(WorkflowUpdateFailedError)
    async def _update_failed(request: Request, exc: WorkflowUpdateFailedError) -> Response:
        err = from_update_failure(exc)
        if request.url.path.startswith("/console"):
            return html_error(request, errors.status_of(err), err.message)
        return errors.respond(err)
