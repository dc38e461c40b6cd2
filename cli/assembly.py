"""Where the command line is assembled: the one module of ``cli/`` that reaches ``store/``.

A case command builds one ``Context`` (``context``) and calls the services on it, as a JSON
route does on the API's; the process commands get the schema (``migrate``) and the worker's
sessions (``sessions``) here.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from config.settings import Settings
from services.context import Context, TemporalLink
from services.db import Database
from store.db import make_engine, make_sessionmaker
from store.migrate import upgrade

# A command runs a handful of queries at a time.
DB_THREADS = 4


def sessions(settings: Settings) -> sessionmaker[Session]:
    """Sessions on the configured database (a pool of its own per call)."""
    return make_sessionmaker(make_engine(settings.database_url))


def migrate(settings: Settings) -> None:
    """Bring the configured database to the newest schema."""
    upgrade(settings.database_url)


def context(settings: Settings, *, register_search_attributes: bool = False) -> Context:
    """The services' context for one command: the configured database, and Temporal connected
    on first use (unreachable: ``Unavailable``, ``error: Temporal is not reachable…``, exit 1).

    ``register_search_attributes``: also register missing Ft* search attributes on connecting,
    for a command that may start workflows before any worker ran on a fresh namespace.
    """
    from workers.client import connect, try_ensure_search_attributes

    async def connected() -> Client:
        client = await connect(settings)
        if register_search_attributes:
            await try_ensure_search_attributes(client)
        return client

    return Context(
        db=Database(sessions(settings), threads=DB_THREADS),
        settings=settings,
        temporal=TemporalLink(connected, timeout_seconds=settings.temporal_rpc_timeout_seconds),
    )
