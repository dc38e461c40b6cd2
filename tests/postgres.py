"""A throwaway PostgreSQL cluster for the test session, and fresh databases per test.

Order of preference: a Docker engine (testcontainers' ``PostgresContainer``), else the
Debian/PostgreSQL binaries (``initdb``/``pg_ctl``) on a temp dir and a free localhost port.
If neither is available the ``postgres`` parameter is skipped loudly, unless
``FOLLOWTHROUGH_REQUIRE_POSTGRES=1`` (set by ``.ci/run``), which turns the skip into a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

REQUIRE_ENV = "FOLLOWTHROUGH_REQUIRE_POSTGRES"
TEMPLATE_DB = "followthrough_tpl"


class PostgresUnavailable(RuntimeError):
    """Neither Docker nor PostgreSQL binaries are usable here."""


def required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1"


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        proc = subprocess.run(["docker", "info"], capture_output=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def _pg_bindir() -> Path | None:
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    for d in candidates:
        if (Path(d) / "initdb").exists() and (Path(d) / "pg_ctl").exists():
            return Path(d)
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return Path(os.path.realpath(initdb)).parent
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _docker_cluster() -> Iterator[str]:
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16-alpine", driver="psycopg") as pg:
        yield pg.get_connection_url()


@dataclass
class Outage:
    """Stop and start a local cluster (an outage drill); the data survives."""

    url: str
    stop: Callable[[], None]
    start: Callable[[], None]


@contextmanager
def _local_cluster(bindir: Path) -> Iterator[str]:
    with local_cluster(bindir) as outage:
        yield outage.url


@contextmanager
def local_cluster(bindir: Path) -> Iterator[Outage]:
    as_root = os.geteuid() == 0
    tmp = Path(tempfile.mkdtemp(prefix="followthrough-pg-"))
    data = tmp / "data"
    prefix: list[str] = []
    user = "postgres"
    if as_root:
        shutil.chown(tmp, user="postgres", group="postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    else:
        import getpass

        user = getpass.getuser()

    def run(*args: str) -> None:
        proc = subprocess.run([*prefix, *args], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise PostgresUnavailable(f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")

    port = _free_port()
    run(
        str(bindir / "initdb"),
        "-D",
        str(data),
        "-U",
        user,
        "--auth=trust",
        "-E",
        "UTF8",
        "--locale=C.UTF-8",
        "--no-sync",
    )
    opts = (
        f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )

    def start() -> None:
        run(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(tmp / "server.log"),
            "-w",
            "-t",
            "30",
            "-o",
            opts,
            "start",
        )

    def stop() -> None:
        # "fast": connections are cut, but what was committed survives (the throwaway cluster runs
        # without fsync, so an "immediate" stop would lose recent commits, which no real outage does).
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")

    start()
    try:
        yield Outage(f"postgresql+psycopg://{user}@127.0.0.1:{port}/postgres", stop, start)
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def outage_cluster() -> Iterator[Outage]:
    """A local cluster of its own that a test may stop and start (no Docker: pg_ctl)."""
    bindir = _pg_bindir()
    if bindir is None:
        raise PostgresUnavailable("no initdb/pg_ctl found (apt-get install postgresql)")
    with local_cluster(bindir) as outage:
        yield outage


@contextmanager
def cluster() -> Iterator[str]:
    """Yield an admin SQLAlchemy URL (database ``postgres``) of a running throwaway cluster."""
    if _docker_answers():
        with _docker_cluster() as url:
            yield url
        return
    bindir = _pg_bindir()
    if bindir is None:
        raise PostgresUnavailable(
            "no Docker engine answers `docker info` and no initdb/pg_ctl found under "
            "/usr/lib/postgresql/*/bin or on PATH (apt-get install postgresql)"
        )
    with _local_cluster(bindir) as url:
        yield url


def _conninfo(url: str, database: str) -> str:
    u = make_url(url).set(drivername="postgresql", database=database)
    return u.render_as_string(hide_password=False)


def _with_db(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def _admin(url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(_conninfo(url, "postgres"), autocommit=True)


def create_template(admin_url: str) -> str:
    """Create and migrate the template database once; return its name."""
    from store.migrate import upgrade

    with _admin(admin_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}"')
        conn.execute(f'CREATE DATABASE "{TEMPLATE_DB}"')
    upgrade(_with_db(admin_url, TEMPLATE_DB))
    return TEMPLATE_DB


def create_database(admin_url: str, template: str) -> str:
    """A fresh, migrated database (a copy of ``template``); return its URL."""
    name = f"test_{uuid.uuid4().hex}"
    with _admin(admin_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return _with_db(admin_url, name)


def drop_database(url: str) -> None:
    name = make_url(url).database
    with _admin(url) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
