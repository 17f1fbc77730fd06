from __future__ import annotations

import pytest

from core import accounts, credits, projects
from core.settings import Settings

pytest_plugins = [
    "tests.fixtures.databases",
    "tests.fixtures.moto_server",
    "tests.fixtures.pipeline",
    "tests.fixtures.dashboard",
    "tests.fixtures.fake_discord",
    "tests.fixtures.api",
    "tests.fixtures.fake_slack",
    "tests.fixtures.lambda_standin",
    "tests.fixtures.private_redis",
    "tests.fixtures.gc_pauses",
    "tests.fixtures.network",
]


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:
    """Embedded-default settings on the test's database, everything kept under tmp_path."""
    return Settings(
        var_dir=tmp_path / "var", database_url=database_url, secret_key="test-secret-0123456789",
        _env_file=None,
    )


@pytest.fixture
def factory(db):
    return Factory(db)


class Factory:
    """Rows for tests, made through the real services."""

    def __init__(self, db) -> None:
        self.db = db

    async def account(self, *, credits_: int = 0, name: str = "tester") -> str:
        async with self.db.transaction() as s:
            account = await accounts.create(session=s, name=name)
            if credits_:
                await credits.grant(
                    session=s, account_id=account.id, amount=credits_,
                    idempotency_key=f"test-grant:{account.id}",
                )
        return account.id

    async def project(self, account_id: str, *, name: str = "demo", state=None) -> str:
        async with self.db.transaction() as s:
            project = await projects.create(
                session=s, account_id=account_id, name=name, state=state
            )
        return project.id

    async def balance(self, account_id: str) -> int:
        async with self.db.transaction() as s:
            return await credits.balance(session=s, account_id=account_id)
