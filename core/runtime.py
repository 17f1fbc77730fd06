"""The composition root: one place that turns settings into the things a process uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from core.backends.base import RenderBackend
from core.db import Database
from core.notify import LogNotifier, Notifiers
from core.settings import Settings
from core.storage.base import Storage
from core.storage.factory import storage_from_url


@dataclass
class Runtime:
    """Settings plus the database, storage, render backend and notifiers built from them.

    Create one per event loop (the engine belongs to the loop that first used it).
    """

    settings: Settings
    notifiers: Notifiers = field(default_factory=lambda: Notifiers([LogNotifier()]))

    @cached_property
    def db(self) -> Database:
        return Database(self.settings.database_url)

    @cached_property
    def storage(self) -> Storage:
        s = self.settings
        return storage_from_url(
            s.storage_url,
            public_base_url=s.public_base_url,
            secret_key=s.secret_bytes(),
            s3_endpoint_url=s.s3_endpoint_url,
            s3_region=s.s3_region,
            s3_access_key_id=s.s3_access_key_id,
            s3_secret_access_key=(
                s.s3_secret_access_key.get_secret_value() if s.s3_secret_access_key else None
            ),
        )

    @cached_property
    def backend(self) -> RenderBackend:
        if self.settings.render_backend == "lambda":
            from core.backends.lambda_ import LambdaBackend

            return LambdaBackend.from_settings(self.settings, storage=self.storage)
        if self.settings.render_backend == "instant":  # benchmarks and tests only
            from core.backends.instant import InstantBackend

            return InstantBackend(self.settings.var_dir.absolute() / "renders")
        from core.backends.local import LocalBackend

        return LocalBackend.from_settings(self.settings)

    async def close(self) -> None:
        await self.notifiers.close()
        if "backend" in self.__dict__:
            await self.backend.close()
        if "db" in self.__dict__:
            await self.db.dispose()
