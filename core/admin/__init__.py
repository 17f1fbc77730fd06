"""The admin service behind the dashboard (transports never query): queue health
(:mod:`core.admin.queue_health`), the job explorer (:mod:`core.admin.explorer`) and
audited actions (:mod:`core.admin.actions`). Callers use ``from core import admin`` and
the names below."""

from core.admin import admins
from core.admin.actions import (
    MAX_GRANT,
    MAX_WINDOW_RETRY,
    RetryReport,
    cancel_job,
    grant,
    refund_job,
    retry_failed_in_window,
    retry_job,
)
from core.admin.explorer import (
    BACKENDS,
    MAX_LIST,
    PLATFORMS,
    STATES,
    Attempt,
    JobDetail,
    JobRow,
    LedgerEntry,
    account_ledger,
    attempts_of,
    job_detail,
    list_jobs,
)
from core.admin.queue_health import (
    BUCKET_SECONDS,
    WINDOW_LABELS,
    WINDOWS,
    BrokerStats,
    Bucket,
    Health,
    LambdaCost,
    Percentiles,
    Rule,
    Target,
    Thresholds,
    Window,
    broker_stats,
    health,
    window,
)

__all__ = [
    "BACKENDS", "MAX_GRANT", "admins", "BUCKET_SECONDS", "MAX_LIST", "MAX_WINDOW_RETRY", "PLATFORMS", "STATES",
    "WINDOWS", "WINDOW_LABELS", "Attempt", "BrokerStats", "Bucket", "Health", "JobDetail",
    "JobRow", "LambdaCost", "LedgerEntry", "Percentiles", "RetryReport", "Rule", "Target",
    "Thresholds", "Window", "account_ledger", "attempts_of", "broker_stats", "cancel_job",
    "grant", "health", "job_detail", "list_jobs", "refund_job", "retry_failed_in_window",
    "retry_job", "window",
]
