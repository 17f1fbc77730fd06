"""The worker's :class:`core.runtime.Runtime`, configured once per worker process."""

from __future__ import annotations

from core.runtime import Runtime
from core.settings import Settings, get_settings

_runtime: Runtime | None = None


def configure(runtime: Runtime) -> Runtime:
    global _runtime
    _runtime = runtime
    return runtime


def current() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = Runtime(get_settings())
    return _runtime


def settings() -> Settings:
    return current().settings
