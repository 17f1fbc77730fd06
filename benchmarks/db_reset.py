"""How the test suite empties its PostgreSQL database between tests (issue 19).

Baseline: ``TRUNCATE <every table> RESTART IDENTITY CASCADE`` (what tests/fixtures used to
run before each PostgreSQL test). Measured: ``tests.fixtures.databases.truncate_all`` (one
PL/pgSQL block of DELETEs, children first, then every sequence back to its start value).
Before each reset the tables get what a typical test leaves: an account with a grant and a
project. Both run alternately in the same process on the same fresh, migrated database.

    .venv/bin/python benchmarks/db_reset.py [--rounds 30] [--repeat 3]

Prints the median and p90 of each, per repeat, and the ratio of the medians. Needs the
PostgreSQL of RENDERBOT_TEST_PG_URL (default: 127.0.0.1:5432, database ``test``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402

from core import accounts, credits, projects  # noqa: E402
from core.db import Base, Database  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from tests.fixtures.databases import PG_ADMIN_URL, _pg_admin, truncate_all  # noqa: E402


async def _fill(db: Database, n: int) -> None:
    async with db.transaction() as s:
        account = await accounts.create(session=s, name="bench")
        await credits.grant(session=s, account_id=account.id, amount=5,
                            idempotency_key=f"bench:{n}")
        await projects.create(session=s, account_id=account.id, name="p", state=None)


async def _truncate(db: Database) -> None:
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    async with db.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


async def _measure(url: str, rounds: int) -> dict[str, list[float]]:
    db = Database(url)
    seconds: dict[str, list[float]] = {"TRUNCATE": [], "DELETE block": []}
    try:
        for n in range(rounds):
            for name, reset in (("TRUNCATE", _truncate), ("DELETE block", truncate_all)):
                await _fill(db, n)
                began = time.perf_counter()
                await reset(db)
                seconds[name].append(time.perf_counter() - began)
    finally:
        await db.dispose()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    name = f"rb_bench_reset_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    ratios = []
    try:
        upgrade(url)
        for repeat in range(1, args.repeat + 1):
            seconds = asyncio.run(_measure(url, args.rounds))
            medians = {k: statistics.median(v) for k, v in seconds.items()}
            for k, v in seconds.items():
                p90 = statistics.quantiles(v, n=10)[-1]
                print(f"run {repeat}: {k:13s} median {medians[k] * 1000:7.1f} ms"
                      f"  p90 {p90 * 1000:7.1f} ms  (n={len(v)})")
            ratios.append(medians["TRUNCATE"] / medians["DELETE block"])
            print(f"run {repeat}: the DELETE block is {ratios[-1]:.1f}x faster than TRUNCATE")
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    print(f"median ratio over {len(ratios)} runs: {statistics.median(ratios):.1f}x")


if __name__ == "__main__":
    main()
