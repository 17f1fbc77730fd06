"""`renderbot storage set|show|clear|rotate`: a creator's own bucket (issue 16)."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.common import JSON_OPTION, emit, fail, run
from core.storage import destinations
from core.storage.destinations import DestinationSpec

storage_app = typer.Typer(help="Where an account's renders are delivered.", no_args_is_help=True)


def _describe(d) -> str:
    prefix = f"/{d.prefix}" if d.prefix else ""
    return (f"renders go to bucket {d.bucket}{prefix} at {d.endpoint} "
            f"(key {d.access_key_id_hint}, verified {d.verified_at:%Y-%m-%d %H:%M} UTC)")


@storage_app.command("set")
def storage_set(
    account: str,
    endpoint: str = typer.Option(..., help="the S3 / R2 endpoint URL"),
    bucket: str = typer.Option(...),
    access_key_id: str = typer.Option(..., "--access-key-id"),
    secret_access_key_file: Path = typer.Option(
        ..., "--secret-access-key-file", help="a file holding the secret (never an argument)"
    ),
    prefix: str = typer.Option("", help="keys start with this path"),
    region: str | None = typer.Option(None, help="e.g. auto (R2) or eu-west-1"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Verify the bucket (write, read back, delete a small object), then deliver the
    account's renders there."""
    try:
        secret = secret_access_key_file.read_text().strip()
    except OSError as exc:
        fail(f"cannot read --secret-access-key-file: {exc.strerror or type(exc).__name__}")
    spec = DestinationSpec(endpoint=endpoint, bucket=bucket, prefix=prefix, region=region,
                           access_key_id=access_key_id, secret_access_key=secret)

    async def work(db, settings):
        return await destinations.set_(db=db, settings=settings, account_id=account, spec=spec)

    found = run(work)
    emit(found, as_json, _describe(found))


@storage_app.command("show")
def storage_show(account: str, as_json: bool = JSON_OPTION) -> None:
    """Where the account's renders go (never the secret)."""

    async def work(db, settings):
        async with db.transaction() as s:
            active = await destinations.active(session=s, account_id=account)
            return None if active is None else destinations.read(active)

    found = run(work)
    if found is None:
        emit({"destination": None}, as_json, "renders go to the default storage")
    else:
        emit(found, as_json, _describe(found))


@storage_app.command("clear")
def storage_clear(account: str) -> None:
    """Later renders go to the default storage."""

    async def work(db, settings):
        async with db.transaction() as s:
            await destinations.clear(session=s, account_id=account)

    run(work)
    emit({}, False, "renders go to the default storage from now on")


@storage_app.command("rotate")
def storage_rotate() -> None:
    """Re-encrypt every stored storage secret under the current RENDERBOT_SECRET_KEY
    (after a key change; see README "Rotating the secret key")."""

    async def work(db, settings):
        async with db.transaction() as s:
            return await destinations.rotate(session=s, settings=settings)

    count = run(work)
    emit({}, False, f"{count} stored secret(s) re-encrypted under the current key")
