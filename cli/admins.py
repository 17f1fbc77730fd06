"""`renderbot admins create|list|disable`: the named admins of the dashboard."""

from __future__ import annotations

import typer
from rich.table import Table

from cli.common import JSON_OPTION, console, emit, run
from core.admin import admins

admins_app = typer.Typer(help="Dashboard admins (viewer sees, operator acts).",
                         no_args_is_help=True)


@admins_app.command("create")
def admins_create(
    name: str,
    role: str = typer.Option(..., "--role", help="viewer | operator"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create an admin and print their password once (only a hash is kept)."""

    async def work(db, settings):
        async with db.transaction() as s:
            return await admins.create(session=s, name=name, role=role)

    created = run(work)
    emit({"name": created.admin.name, "role": created.admin.role,
          "password": created.password}, as_json,
         f"admin {created.admin.name} ({created.admin.role}); password (shown once): "
         f"{created.password}")


@admins_app.command("list")
def admins_list(as_json: bool = JSON_OPTION) -> None:
    """Every admin, their role and whether they are disabled."""

    async def work(db, settings):
        async with db.transaction() as s:
            return await admins.list_(session=s)

    rows = run(work)
    if as_json:
        emit(rows, True, "")
        return
    table = Table("name", "role", "status", "last sign-in", "created")
    for a in rows:
        table.add_row(a.name, a.role, "disabled" if a.disabled_at else "active",
                      f"{a.last_sign_in_at:%Y-%m-%d %H:%M}" if a.last_sign_in_at else "-",
                      f"{a.created_at:%Y-%m-%d %H:%M}")
    console.print(table)


@admins_app.command("disable")
def admins_disable(name: str, as_json: bool = JSON_OPTION) -> None:
    """Disable an admin: they can no longer sign in or act."""

    async def work(db, settings):
        async with db.transaction() as s:
            return await admins.disable(session=s, name=name)

    admin = run(work)
    emit(admin, as_json, f"admin {admin.name} disabled")
