"""The `renderbot` command."""

from __future__ import annotations

import logging

import typer

from cli.admin import accounts_app, credits_app, db_app, keys_app, projects_app
from cli.admins import admins_app
from cli.dashboard import dashboard
from cli.discord_bot import discord_command
from cli.lambda_deploy import lambda_app
from cli.processes import demo, worker
from cli.render import render_app
from cli.server import api, serve
from cli.storage import storage_app

app = typer.Typer(
    help="renderbot: turn 'render my project' into a finished video link.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db_app, name="db")
app.add_typer(accounts_app, name="accounts")
app.add_typer(credits_app, name="credits")
app.add_typer(keys_app, name="keys")
app.add_typer(projects_app, name="projects")
app.add_typer(admins_app, name="admins")
app.add_typer(render_app, name="render")
app.add_typer(lambda_app, name="lambda")
app.add_typer(storage_app, name="storage")
app.command("demo")(demo)
app.command("worker")(worker)
app.command("dashboard")(dashboard)
app.command("serve")(serve)
app.command("api")(api)
app.command("discord")(discord_command)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app()


if __name__ == "__main__":
    main()
