"""`followthrough token create|list|revoke`: service tokens for backends (stored hashed)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli import assembly
from cli.common import console, fail, load_settings, run
from services.tokens import TokenInfo, Tokens

app = typer.Typer(help="Service tokens for backends (stored hashed).", no_args_is_help=True)
ROLES = ("system", "ops", "chw", "lead", "manager")


def _tokens() -> Tokens:
    return Tokens(assembly.context(load_settings()))


@app.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="who uses it, e.g. 'phone system'")],
    role: Annotated[str, typer.Option(help="system | ops | chw | lead | manager")] = "system",
    staff_id: Annotated[str | None, typer.Option(help="the staff member, for a staff role")] = None,
) -> None:
    """Create a token and print it once: it is stored only as a hash and cannot be shown again."""
    if role not in ROLES:
        raise typer.Exit(code=fail(f"unknown role {role!r}: system, ops, chw, lead or manager"))
    tokens = _tokens()
    token, info = run(tokens.create(name=name, role=role, staff_id=staff_id))  # type: ignore[arg-type]
    console.print(
        f"created {info.id} ({info.role}{', ' + info.staff_id if info.staff_id else ''}): {info.name}"
    )
    console.print("Copy the token now; it is not stored and will not be shown again:")
    print(token)


@app.command("list")
def token_list() -> None:
    """The service tokens (ids, names and roles; never the tokens)."""
    rows: list[TokenInfo] = run(_tokens().list_tokens())
    table = Table(title="Service tokens")
    table.add_column("id", no_wrap=True)
    for column in ("name", "role", "staff_id", "created", "revoked"):
        table.add_column(column)
    for t in rows:
        revoked = t.revoked_at.isoformat(timespec="seconds") if t.revoked_at else ""
        table.add_row(
            t.id, t.name, t.role, t.staff_id or "", t.created_at.isoformat(timespec="seconds"), revoked
        )
    console.print(table)


@app.command("revoke")
def token_revoke(token_id: str) -> None:
    """Revoke a token by id: requests with it are refused (401) at once."""
    info = run(_tokens().revoke(token_id))
    console.print(f"revoked {info.id} ({info.name})")
