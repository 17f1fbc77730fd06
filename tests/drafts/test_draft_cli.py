"""`renderbot render quote|submit --draft` (issue 17): the real entry point, a subprocess."""

from __future__ import annotations

import pytest

from tests.cli.test_cli import Cli

PRICEY = ["--resolution", "1920x1080", "--fps", "30", "--duration", "180", "--quality", "high",
          "--effect", "grain", "--effect", "glow"]  # 54 credits in full, 6 as a draft


@pytest.fixture
def cli(tmp_path) -> Cli:
    return Cli(tmp_path)


@pytest.fixture
def funded(cli):
    account = cli("accounts", "create", "drafter").stdout.strip()
    cli("credits", "grant", account, "100", "--note", "trial")
    project = cli("projects", "create", account, "--name", "Drafts").stdout.strip()
    return account, project


def test_draft_flag_quotes_and_charges_a_tenth(cli, funded):
    account, project = funded
    full = cli.json("render", "quote", project, *PRICEY)
    draft = cli.json("render", "quote", project, *PRICEY, "--draft")
    assert (full["credit_cost"], draft["credit_cost"]) == (54, 6)
    assert full["settings"]["draft"] is False and draft["settings"]["draft"] is True
    said = cli("render", "quote", project, *PRICEY, "--draft").stdout
    assert "· draft" in said and "cost 6 credits" in said

    job = cli.json("render", "submit", project, *PRICEY, "--draft")
    assert job["credit_cost"] == 6 and job["settings"]["draft"] is True
    assert cli.json("credits", "show", account)["balance"] == 94
