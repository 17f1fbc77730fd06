"""ORM models. Transports never import these: they get schemas from core services."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime, utcnow

JOB_STATES = ("queued", "processing", "completed", "failed", "cancelled")
TERMINAL_STATES = frozenset({"completed", "failed", "cancelled"})
ENTRY_KINDS = ("grant", "debit", "refund", "adjustment")


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def _id(prefix: str):
    return mapped_column(String(40), primary_key=True, default=lambda: new_id(prefix))


def _created():
    return mapped_column(UTCDateTime, default=utcnow, nullable=False)


class Account(Base):
    __tablename__ = "account"
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_not_negative"),)

    id: Mapped[str] = _id("acc")
    name: Mapped[str] = mapped_column(String(200))
    balance: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    webhook_secret: Mapped[str | None] = mapped_column(String(128))
    storage_bucket: Mapped[str | None] = mapped_column(String(255))
    storage_prefix: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = _created()


class ChatIdentity(Base):
    """A Discord or Slack user, linked to one account (created on first use)."""

    __tablename__ = "chat_identity"
    __table_args__ = (UniqueConstraint("platform", "team_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(20))
    team_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[str] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = _created()


class LinkCode(Base):
    """A short-lived code that links another chat identity to an existing account."""

    __tablename__ = "link_code"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = _created()


class ApiKey(Base):
    __tablename__ = "api_key"

    id: Mapped[str] = _id("key")
    account_id: Mapped[str] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = _created()


class Project(Base):
    __tablename__ = "project"

    id: Mapped[str] = _id("prj")
    account_id: Mapped[str] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_render_job_id: Mapped[str | None] = mapped_column(String(40))
    last_render_url: Mapped[str | None] = mapped_column(Text)
    last_rendered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow
    )


class RenderBatch(Base):
    """One confirm that renders 2-4 aspect variants of a project (issue 18): ONE ledger
    debit (``debit:batch:<id>``) for the sum; each variant is a job with ``batch_id``."""

    __tablename__ = "render_batch"
    __table_args__ = (UniqueConstraint("account_id", "idempotency_key"),)

    id: Mapped[str] = _id("bat")
    account_id: Mapped[str] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"),
                                            index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    variants: Mapped[list[Any]] = mapped_column(JSON)
    credit_cost: Mapped[int] = mapped_column(Integer)
    origin: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created()


class RenderJob(Base):
    __tablename__ = "render_job"
    __table_args__ = (
        UniqueConstraint("account_id", "idempotency_key"),
        CheckConstraint(
            "status IN ('queued', 'processing', 'completed', 'failed', 'cancelled')",
            name="status_known",
        ),
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress_range"),
        Index("ix_render_job_status_created_at", "status", "created_at"),
        Index("ix_render_job_account_id_created_at", "account_id", "created_at"),
        # dashboard read models (core/admin/): window scans by time, per state
        Index("ix_render_job_created_at", "created_at"),
        Index("ix_render_job_started_at", "started_at"),
        # covers the health page's per-interval summary (an index-only scan)
        Index(
            "ix_render_job_finished_at_summary", "finished_at", "status", "backend",
            "download_count", "credit_cost", "cost_reported",
        ),
        Index("ix_render_job_status_finished_at", "status", "finished_at"),
        # fair use (core/fairness.py): active jobs per account and per chat server
        Index("ix_render_job_status_account_id", "status", "account_id"),
    )

    id: Mapped[str] = _id("job")
    account_id: Mapped[str] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="queued")
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    credit_cost: Mapped[int] = mapped_column(Integer)
    project_state: Mapped[dict[str, Any]] = mapped_column(JSON)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    result_url: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    error_detail: Mapped[str | None] = mapped_column(Text)  # admins only (core/job_errors.py)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    backend: Mapped[str] = mapped_column(String(16))
    backend_ref: Mapped[str | None] = mapped_column(String(255))
    backend_info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    output_bucket: Mapped[str | None] = mapped_column(String(255))
    output_key: Mapped[str | None] = mapped_column(String(512))
    output_size: Mapped[int | None] = mapped_column(BigInteger)
    cost_reported: Mapped[float | None] = mapped_column(Float)
    queue_position: Mapped[int | None] = mapped_column(Integer)
    eta_seconds: Mapped[float | None] = mapped_column(Float)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    origin: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    callback_url: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    download_count: Mapped[int] = mapped_column(Integer, default=0)
    # issue 16: the creator's destination the video went to (None: the default storage),
    # and when the retention sweep deleted it from the default storage
    destination_id: Mapped[str | None] = mapped_column(
        ForeignKey("storage_destination.id", ondelete="SET NULL"), index=True
    )
    output_expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # issue 18: the batch this job is a variant of, and the chat server (a Discord guild or
    # Slack workspace, "discord:<id>" / "slack:<id>") it came from, for fair use
    batch_id: Mapped[str | None] = mapped_column(
        ForeignKey("render_batch.id", ondelete="SET NULL"), index=True
    )
    chat_server: Mapped[str | None] = mapped_column(String(120))
    # issue 17: the JPEG poster frame stored beside the video (same bucket), and its link;
    # None when making the poster failed (the render still completed)
    poster_key: Mapped[str | None] = mapped_column(String(512))
    poster_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    queued_at: Mapped[datetime] = _created()
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow
    )

    @property
    def has_callback(self) -> bool:
        """The job reports to a ``callback_url`` (set when it is created, never changed)."""
        return bool(self.callback_url)


class JobEvent(Base):
    """Append-only history of a job: state changes, progress, attempts, admin actions."""

    __tablename__ = "job_event"
    __table_args__ = (
        Index("ix_job_event_job_id_id", "job_id", "id"),
        Index("ix_job_event_at", "at"),
        Index("ix_job_event_kind_at", "kind", "at"),  # dashboard: attempts/errors per window
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("render_job.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(16))  # state | progress | attempt | audit
    state: Mapped[str | None] = mapped_column(String(16))
    progress: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str | None] = mapped_column(String(120))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CreditEntry(Base):
    """Append-only ledger. Sum of ``amount`` per account equals ``account.balance``."""

    __tablename__ = "credit_entry"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('grant', 'debit', 'refund', 'adjustment')", name="kind_known"
        ),
        Index("ix_credit_entry_account_id_created_at", "account_id", "created_at"),
        Index("ix_credit_entry_created_at", "created_at"),
        Index("ix_credit_entry_kind_created_at", "kind", "created_at", "amount"),  # dashboard
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    job_id: Mapped[str | None] = mapped_column(
        ForeignKey("render_job.id", ondelete="SET NULL"), index=True
    )
    note: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = _created()


class CallbackAttempt(Base):
    """One POST of a callback event to a webhook caller's ``callback_url`` (or its refusal)."""

    __tablename__ = "callback_attempt"
    __table_args__ = (
        CheckConstraint(
            "outcome IN ('delivered', 'retrying', 'failed', 'refused')", name="outcome_known"
        ),
        Index("ix_callback_attempt_job_id_id", "job_id", "id"),
        Index("ix_callback_attempt_event_id", "event_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("render_job.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()


class Admin(Base):
    """A dashboard admin (``renderbot admins create``): ``viewer`` sees, ``operator`` acts."""

    __tablename__ = "admin"
    __table_args__ = (
        CheckConstraint("role IN ('viewer', 'operator')", name="role_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = _created()


class LambdaAttemptCost(Base):
    """What Remotion Lambda reported an attempt of a job cost (USD), for EVERY attempt —
    completed, failed, cancelled or retried — so the dashboard's Lambda cost includes the
    money spent on renders that delivered nothing (issue 15). Updated on every status of
    the attempt that carries a cost (poll or webhook); the last one wins."""

    __tablename__ = "lambda_attempt_cost"
    __table_args__ = (Index("ix_lambda_attempt_cost_updated_at", "updated_at"),)

    job_id: Mapped[str] = mapped_column(
        ForeignKey("render_job.id", ondelete="CASCADE"), primary_key=True
    )
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    render_id: Mapped[str | None] = mapped_column(String(64))
    cost_usd: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16))  # the attempt's last reported state
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class StorageDestination(Base):
    """A creator's own bucket (R2 / S3) their renders are delivered to (issue 16). The
    secret is a Fernet token (core/secret_box.py), never plaintext. A cleared or replaced
    destination keeps its row (``cleared_at``): the videos already delivered there are
    still presigned from it."""

    __tablename__ = "storage_destination"
    __table_args__ = (Index("ix_storage_destination_account_id", "account_id", "cleared_at"),)

    id: Mapped[str] = _id("dst")
    account_id: Mapped[str] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    endpoint: Mapped[str] = mapped_column(Text)
    bucket: Mapped[str] = mapped_column(String(63))
    prefix: Mapped[str] = mapped_column(String(255), default="")
    region: Mapped[str | None] = mapped_column(String(64))
    access_key_id: Mapped[str] = mapped_column(String(255))
    secret_ciphertext: Mapped[str] = mapped_column(Text)
    verified_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = _created()
