from __future__ import annotations

import fcntl

import pytest

from core import accounts, credits, projects
from core.settings import Settings
from tests.fixtures.databases import worker_id

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


# --- which database a render-backed test runs on --------------------------------------------
#
# Data-layer tests run on SQLite AND PostgreSQL (the ``database_url`` fixture's params).
# A test that also needs the session's render server (it renders, or runs a worker beside a
# render server) runs on SQLite only: what it checks is the pipeline around the render
# (backend, storage, notifiers, retries), and SQLite is the embedded default those
# in-process workers model (`renderbot serve`). The same code on PostgreSQL is covered by
# the data-layer tests and by the production-topology tests (PostgreSQL + Redis + worker
# processes, on ``pg_url``). Render-backed tests whose point is a race between two writers
# (a webhook and a poll, a cancel and an upload, a lease taken over) are decided by the
# database's locking, so they keep both databases: RACES_ON_BOTH_DATABASES.
RENDER_FIXTURES = {"render_server_dir", "render_server_config", "production_bundles"}
RACES_ON_BOTH_DATABASES = {
    "test_webhook_before_the_poll_completes_the_job_once",
    "test_poll_before_the_webhook_completes_the_job_once",
    "test_cancel_during_upload_wins_refunds_once_and_leaves_no_object",
    "test_repeated_reconciler_pick_ups_end_the_job_failed_and_refunded_once",
    "test_a_render_whose_worker_died_is_taken_over_and_started_again",
}


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc):
    names = set(metafunc.fixturenames)
    definitions = metafunc._arg2fixturedefs.get("database_url") or ()
    if (not definitions or definitions[-1].params is None  # a module picked its database
            or not names & RENDER_FIXTURES
            or metafunc.function.__name__ in RACES_ON_BOTH_DATABASES
            or any("database_url" in str(m.args[:1])
                   for m in metafunc.definition.iter_markers("parametrize"))):
        return
    metafunc.definition.add_marker(
        pytest.mark.parametrize("database_url", ["sqlite"], indirect=True))


# --- pytest-xdist: tests that start several processes run alone ---------------------------
#
# With ``-n 3 --dist worksteal`` (make test), while one of these runs the other workers wait
# between tests (a readers-writer lock on a file of the run's shared temp dir): two
# topologies never compete for the two cores, and their timing bounds hold as in a serial
# run. The lock is taken around a test's whole protocol (setup, call, teardown), so no
# other worker starts a render server or a browser for its next test while a heavy test
# runs. (xdist's ``--dist loadgroup`` would only keep them on one worker, and its group
# suffix does not reach pytest 9's node ids.)
HEAVY_MODULES = {
    "tests/deploy/test_topology.py",
    "tests/pipeline/test_production_topology.py",
    "tests/bots/discord/test_production.py",
    "tests/bots/discord/test_two_workers.py",
    "tests/jobs/test_fair_order.py",
    "tests/previews/test_previews_topology.py",
}
# Modules run right after the heavy ones, because they are long: a test that takes a
# minute (a link waited out until it expires, the CLI as a subprocess, real renders) must
# not be the last one a worker starts. The real Lambda function's modules stay together,
# so the few workers that run them each start that function (a session fixture) once.
LONG_MODULES = [
    "tests/api/test_serve_e2e.py",
    "tests/lambda_backend/test_real_function.py",
    "tests/lambda_backend/test_real_formats.py",
    "tests/storage/test_lambda_destinations.py",
    "tests/cli/test_cli.py",
    "tests/dashboard/test_browser.py",
    "tests/render/test_local_render_server.py",
]


def _module(item) -> str:
    return item.nodeid.split("::", 1)[0]


def _run_order(item) -> int:
    """0: heavy (all of them first, one after another), 1: long, 2: the rest. Under
    ``--dist worksteal`` each worker gets a contiguous share of this order and idle workers
    take tests from the end of the others' shares: the heavy tests all land on the first
    worker, back to back, and the balancing at the end moves short tests only."""
    module = _module(item)
    if module in HEAVY_MODULES:
        return 0
    return 1 if module in LONG_MODULES else 2


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _module(item) in HEAVY_MODULES:
            item.add_marker(pytest.mark.heavy)
    items.sort(key=_run_order)  # stable: the order inside each group is pytest's


def _is_heavy(item) -> bool:
    return item is not None and item.get_closest_marker("heavy") is not None


_held = {"lock": None, "turnstile": None}  # this worker's open lock files while it holds one


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Under xdist: a heavy test holds the run's lock exclusively, every other test shares
    it. A turnstile keeps a waiting heavy test from being starved by the others. A worker
    whose next test is heavy too keeps the exclusive lock: consecutive heavy tests run
    without the other workers starting (and the next heavy test then waiting for) a test
    in between."""
    if worker_id() is None:
        yield
        return
    exclusive = _is_heavy(item)
    if _held["lock"] is None:
        shared = item.config._tmp_path_factory.getbasetemp().parent  # above popen-gw*/
        turnstile = open(shared / "turnstile.lock", "a")  # noqa: SIM115 - kept across tests
        lock = open(shared / "heavy.lock", "a")  # noqa: SIM115
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        finally:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        _held.update(lock=lock, turnstile=turnstile)
    try:
        yield
    finally:
        if not (exclusive and _is_heavy(nextitem)):
            lock, turnstile = _held["lock"], _held["turnstile"]
            _held.update(lock=None, turnstile=None)
            fcntl.flock(lock, fcntl.LOCK_UN)
            lock.close()
            turnstile.close()


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
