"""`renderbot db|accounts|credits|keys|projects ...`"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import typer
from rich.table import Table

from cli.common import JSON_OPTION, console, emit, fail, load_settings, run
from core import accounts, credits, network, projects

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
accounts_app = typer.Typer(help="Accounts.", no_args_is_help=True)
credits_app = typer.Typer(help="Credits ledger.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
projects_app = typer.Typer(help="Projects.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply Alembic migrations to RENDERBOT_DATABASE_URL."""
    from core.migrate import upgrade

    settings = load_settings()
    try:
        upgrade(settings.database_url, revision)
    except Exception as exc:  # noqa: BLE001 - one line, no traceback
        fail(f"migration failed: {exc.__class__.__name__}: {str(exc).splitlines()[0][:200]}")
    console.print(f"database at revision {revision}")


@accounts_app.command("create")
def accounts_create(name: str, as_json: bool = JSON_OPTION) -> None:
    """Create an account and print its id."""

    async def work(db, settings):
        async with db.transaction() as s:
            return await accounts.create(session=s, name=name)

    account = run(work)
    emit(account, as_json, account.id)


@accounts_app.command("list")
def accounts_list(as_json: bool = JSON_OPTION) -> None:
    async def work(db, settings):
        async with db.transaction() as s:
            return await accounts.list_(session=s)

    rows = run(work)
    table = Table("id", "name", "balance", "created")
    for a in rows:
        table.add_row(a.id, a.name, str(a.balance), f"{a.created_at:%Y-%m-%d %H:%M}")
    if as_json:
        emit(rows, True, "")
    else:
        console.print(table)


@accounts_app.command("link-code")
def accounts_link_code(account: str) -> None:
    """A code that links a Discord or Slack user to ACCOUNT (`/render link CODE`)."""

    async def work(db, settings):
        async with db.transaction() as s:
            return await accounts.create_link_code(session=s, account_id=account)

    console.print(run(work))


@accounts_app.command("webhook-secret")
def accounts_webhook_secret(account: str) -> None:
    """Rotate ACCOUNT's callback signing secret and print it once."""

    async def work(db, settings):
        async with db.transaction() as s:
            return await accounts.rotate_webhook_secret(session=s, account_id=account)

    console.print(run(work))


@credits_app.command("grant")
def credits_grant(
    account: str,
    amount: int,
    note: str = typer.Option(None, "--note", help="why (kept in the ledger)"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Add AMOUNT credits to ACCOUNT."""

    async def work(db, settings):
        async with db.transaction() as s:
            await accounts.get(session=s, account_id=account)
            return await credits.grant(
                session=s, account_id=account, amount=amount,
                idempotency_key=f"cli-grant:{uuid.uuid4()}", note=note, actor="cli",
            )

    entry = run(work)
    emit(entry, as_json, f"granted {amount} credits; balance {entry.balance_after}")


@credits_app.command("show")
def credits_show(account: str, as_json: bool = JSON_OPTION) -> None:
    """Balance and recent ledger entries of ACCOUNT."""

    async def work(db, settings):
        async with db.transaction() as s:
            return await credits.statement(session=s, account_id=account)

    statement = run(work)
    if as_json:
        emit(statement, True, "")
        return
    console.print(f"balance: {statement.balance} credits")
    table = Table("when", "kind", "amount", "balance", "job", "note")
    for e in statement.entries:
        table.add_row(
            f"{e.created_at:%Y-%m-%d %H:%M}", e.kind, f"{e.amount:+d}", str(e.balance_after),
            e.job_id or "", e.note or "",
        )
    console.print(table)


@keys_app.command("create")
def keys_create(account: str, as_json: bool = JSON_OPTION) -> None:
    """Create an API key for ACCOUNT; it is printed once and stored hashed."""

    async def work(db, settings):
        async with db.transaction() as s:
            return await accounts.create_api_key(session=s, account_id=account)

    created = run(work)
    emit(created, as_json, created.key)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    async def work(db, settings):
        async with db.transaction() as s:
            await accounts.revoke_api_key(session=s, key_id=key_id)

    run(work)
    console.print(f"revoked {key_id}")


@projects_app.command("create")
def projects_create(
    account: str,
    name: str = typer.Option(..., "--name"),
    state_file: Path = typer.Option(None, "--state-file", help="JSON: {composition, props}"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a project for ACCOUNT and print its id."""
    state = None
    if state_file is not None:
        try:
            state = json.loads(state_file.read_text())
        except (OSError, ValueError) as exc:
            fail(f"--state-file: {exc}")

    async def work(db, settings):
        async with db.transaction() as s:
            await accounts.get(session=s, account_id=account)
            return await projects.create(session=s, account_id=account, name=name, state=state,
                                         policy=network.policy(settings))

    project = run(work)
    emit(project, as_json, project.id)


@projects_app.command("list")
def projects_list(account: str, as_json: bool = JSON_OPTION) -> None:
    async def work(db, settings):
        async with db.transaction() as s:
            await accounts.get(session=s, account_id=account)
            return await projects.list_(session=s, account_id=account)

    rows = run(work)
    if as_json:
        emit(rows, True, "")
        return
    table = Table("id", "name", "last render", "updated")
    for p in rows:
        table.add_row(p.id, p.name, p.last_render_job_id or "", f"{p.updated_at:%Y-%m-%d %H:%M}")
    console.print(table)
