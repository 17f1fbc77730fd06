"""What every CLI command shares: settings, a database per command, output, errors."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from sqlalchemy.exc import OperationalError, ProgrammingError

from core.db import Database
from core.errors import RenderbotError
from core.settings import Settings, describe_error, get_settings

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)
log = logging.getLogger("renderbot.cli")


def fail(message: str, code: int = 1) -> None:
    """One line on stderr, non-zero exit, no traceback."""
    err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def load_settings() -> Settings:
    try:
        return get_settings()
    except Exception as exc:  # pydantic ValidationError: the first reason, naming its variable
        fail(f"configuration: {describe_error(exc)}")
        raise


def prepare_database(settings: Settings) -> None:
    """The embedded SQLite database migrates itself; others need `renderbot db upgrade`."""
    if settings.database_url.startswith("sqlite"):
        from core.migrate import upgrade

        upgrade(settings.database_url)


def run(work: Callable[[Database, Settings], Awaitable[T]]) -> T:
    """Run one command's async work against a fresh engine; map errors to one line."""
    settings = load_settings()
    try:
        prepare_database(settings)
    except Exception as exc:  # noqa: BLE001
        fail(f"database: {exc.__class__.__name__}: {str(exc).splitlines()[0][:200]}")

    async def main() -> T:
        db = Database(settings.database_url)
        try:
            return await work(db, settings)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except RenderbotError as exc:
        fail(str(exc))
    except (OperationalError, ProgrammingError) as exc:
        hint = " (run `renderbot db upgrade`?)" if "exist" in str(exc) else ""
        fail(f"database: {str(exc.orig).splitlines()[0][:200]}{hint}")
    except (typer.Exit, KeyboardInterrupt):
        raise
    except Exception:
        correlation = uuid.uuid4().hex[:12]
        log.exception("internal error %s", correlation)
        fail(f"internal error (correlation id {correlation}); see the log")
    raise AssertionError("unreachable")


def emit(record: BaseModel | list[BaseModel] | dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        if isinstance(record, list):
            data = [r.model_dump(mode="json") for r in record]
        elif isinstance(record, BaseModel):
            data = record.model_dump(mode="json")
        else:
            data = record
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        console.print(text, highlight=False, soft_wrap=True)


JSON_OPTION = typer.Option(False, "--json", help="print machine-readable JSON")
