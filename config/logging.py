"""structlog setup: readable console lines for people, JSON lines for machines."""

from __future__ import annotations

import logging
import sys

import structlog
from temporalio import activity


def configure_logging(fmt: str = "console", level: str = "INFO") -> None:
    """Configure structlog and the stdlib root logger the same way.

    Temporal's ``workflow.logger`` and ``activity.logger`` are stdlib loggers; routing them
    through the same processors keeps one format in the worker's output.
    """
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = ActivitySafeHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info if fmt == "json" else _noop,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


class ActivitySafeHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that a synchronous activity's cancellation cannot leave locked.

    The SDK cancels a synchronous activity (a worker shutting down, a timeout) by raising
    ``CancelledError`` inside its thread, wherever it is (``activities.sessions`` holds it back
    from queries). Landing inside a log line, it cut the line short ("--- Logging error ---");
    landing between the handler taking its lock and the ``try`` that gives it back, it left the
    lock held, and every later line of the process waited on it forever (seen: a worker of the
    test suite hung in ``Handler.acquire``). Inside an activity a line is now written whole, and
    the cancellation raised once it is."""

    def handle(self, record: logging.LogRecord) -> bool:
        if not activity.in_activity():
            return bool(super().handle(record))
        with activity.shield_thread_cancel_exception():
            return bool(super().handle(record))


def _noop(_: object, __: str, event_dict: structlog.types.EventDict) -> structlog.types.EventDict:
    return event_dict
