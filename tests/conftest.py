from __future__ import annotations

import fcntl
import os

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
# With ``-n 3 --dist worksteal`` (make test) every test takes a readers-writer lock on files
# of the run's shared temp dir around its whole protocol (setup, call, teardown), in one of
# four kinds:
#
# - heavy (HEAVY_MODULES: topologies of several processes): no other heavy or
#   process-backed test runs meanwhile, so two topologies never compete for the two cores
#   and no other worker starts a render server or a browser while one runs;
# - solo (SOLO_MODULES, heavy tests whose timing bound is tight): nothing else runs at all;
# - process-backed (a render server, a browser, the real Lambda function: PROCESS_FIXTURES,
#   PROCESS_MODULES): any number at once, never beside a heavy or solo test;
# - light (everything else: in-process, a thread or a CLI subprocess at most): any time
#   except beside a solo test.
#
# The heavy tests come first in one worker's share; the other workers' shares begin with
# light tests, so they keep working while the topologies run instead of waiting for them
# (_xdist_order). (xdist's ``--dist loadgroup`` would only keep the heavy ones on one worker,
# and its group suffix does not reach pytest 9's node ids.)
HEAVY_MODULES = {
    "tests/deploy/test_topology.py",
    "tests/pipeline/test_production_topology.py",
    "tests/bots/discord/test_production.py",
    "tests/bots/discord/test_two_workers.py",
    "tests/jobs/test_fair_order.py",
    "tests/previews/test_previews_topology.py",
}
# B's wait within the renders running + 0.5 s; the poster's wait within its bound + 2 s
SOLO_MODULES = {
    "tests/jobs/test_fair_order.py",
    "tests/previews/test_previews_topology.py",
}
PROCESS_FIXTURES = RENDER_FIXTURES | {"lambda_standin", "real_lambda", "browser",
                                      "dashboard_process"}
PROCESS_MODULES = ("tests/render/",)  # render servers of their own, killed and restarted
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
    "tests/render/test_local_render_server_processes.py",
    "tests/render/test_local_render_server_output.py",
    "tests/render/test_local_render_server_queue.py",
]
_SH, _EX = fcntl.LOCK_SH, fcntl.LOCK_EX
# (solo.lock, heavy.lock) modes per kind; None: that lock is not taken
_MODES = {"solo": (_EX, _EX), "heavy": (_SH, _EX), "process": (_SH, _SH), "light": (_SH, None)}
_KIND = pytest.StashKey[str]()


def _module(item) -> str:
    return item.nodeid.split("::", 1)[0]


def _kind(item) -> str:
    module = _module(item)
    if module in SOLO_MODULES:
        return "solo"
    if module in HEAVY_MODULES:
        return "heavy"
    if set(item.fixturenames) & PROCESS_FIXTURES or module.startswith(PROCESS_MODULES):
        return "process"
    return "light"


def _run_order(item) -> int:
    """0: heavy (all of them first, one after another), 1: long, 2: the rest."""
    module = _module(item)
    if module in HEAVY_MODULES:
        return 0
    return 1 if module in LONG_MODULES else 2


def _xdist_order(items: list, workers: int) -> list:
    """The run order for ``--dist worksteal`` on ``workers`` workers, which first gives
    each worker a contiguous share of it (len // workers, the first worker first) and
    later lets an idle worker take the second half of the longest remaining share. The
    first share: heavy, long process-backed, other process-backed, then light tests; the
    other shares: light tests only (long ones first), so those workers run beside the
    heavy tests instead of waiting for them; whatever process-backed tests do not fit in
    the first share come last."""
    shared = [item for item in items if _kind(item) != "light"]
    light = [item for item in items if _kind(item) == "light"]
    first = len(items) // workers
    if len(shared) > first:
        return shared[:first] + light + shared[first:]
    cut = len(light) - (first - len(shared))
    return shared + light[cut:] + light[:cut]


def pytest_collection_modifyitems(config, items):
    for item in items:  # before -m and -k deselect (make test-fast: -m "not heavy")
        item.stash[_KIND] = _kind(item)
        if _module(item) in HEAVY_MODULES:
            item.add_marker(pytest.mark.heavy)


@pytest.hookimpl(trylast=True, specname="pytest_collection_modifyitems")
def pytest_collection_modifyitems_last(config, items):
    """After deselection: the shares are cut from the tests that run."""
    items.sort(key=_run_order)  # stable: the order inside each group is pytest's
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if worker_id() is not None and workers > 1:
        items[:] = _xdist_order(items, workers)


_held = {"kind": None, "files": []}  # this worker's lock kind and open lock files


def _acquire(shared_dir, kind: str) -> None:
    """Every test passes a turnstile first, and a test of an exclusive kind holds it until
    it has its locks: a waiting heavy test is not starved by shared holders that keep
    coming, while a test waiting for a shared lock blocks no one else. Every worker takes
    the locks in the same order (solo, heavy)."""
    modes = _MODES[kind]
    turnstile = open(shared_dir / "turnstile.lock", "a")  # noqa: SIM115
    fcntl.flock(turnstile, _EX)
    if _EX not in modes:
        turnstile.close()  # through: no exclusive test is waiting ahead of this one
    files = []
    try:
        for name, mode in zip(("solo.lock", "heavy.lock"), modes, strict=True):
            if mode is not None:
                lock = open(shared_dir / name, "a")  # noqa: SIM115 - kept across tests
                fcntl.flock(lock, mode)
                files.append(lock)
    finally:
        turnstile.close()
    _held.update(kind=kind, files=files)


def _release() -> None:
    for lock in _held["files"]:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
    _held.update(kind=None, files=[])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Under xdist: each test holds the run's locks in its kind's modes. A worker whose
    next test is of the same exclusive kind keeps its locks: consecutive heavy tests run
    without another worker starting (and the next heavy test then waiting for) a test in
    between."""
    if worker_id() is None:
        yield
        return
    kind = item.stash[_KIND]
    if _held["kind"] != kind:
        _release()
        _acquire(item.config._tmp_path_factory.getbasetemp().parent, kind)  # above popen-gw*/
    try:
        yield
    finally:
        exclusive = _MODES[kind][1] == _EX
        if not (exclusive and nextitem is not None and nextitem.stash[_KIND] == kind):
            _release()


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
