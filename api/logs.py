"""Moved to :mod:`core.logs` (every process logs the same way); kept for ``from api import
logs``."""

from core.logs import (  # noqa: F401
    CONTEXT_FIELDS,
    ContextFilter,
    JsonFormatter,
    TextFormatter,
    configure,
    request_id,
)
