"""Domain exceptions. They carry data; each transport maps them once (HTTP, chat, CLI)."""

from __future__ import annotations


class RenderbotError(Exception):
    """Base class: ``code`` is stable and machine-readable, ``str()`` is for people."""

    code = "error"
    http_status = 400


class NotFound(RenderbotError):
    code = "not_found"
    http_status = 404

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"{kind} {ident!r} not found")
        self.kind = kind
        self.ident = ident


class AccountNotFound(NotFound):
    def __init__(self, account_id: str) -> None:
        super().__init__("account", account_id)


class ProjectNotFound(NotFound):
    def __init__(self, project_id: str) -> None:
        super().__init__("project", project_id)


class JobNotFound(NotFound):
    def __init__(self, job_id: str) -> None:
        super().__init__("render job", job_id)


class InvalidSettings(RenderbotError):
    code = "invalid_settings"
    http_status = 422

    def __init__(self, field: str, message: str, allowed: object = None) -> None:
        text = f"{field}: {message}"
        if allowed is not None:
            text += f" (allowed: {allowed})"
        super().__init__(text)
        self.field = field
        self.allowed = allowed


class InvalidInput(RenderbotError):
    code = "invalid_input"
    http_status = 422

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class InsufficientCredits(RenderbotError):
    code = "insufficient_credits"
    http_status = 402

    def __init__(self, *, balance: int, cost: int) -> None:
        super().__init__(
            f"this render costs {cost} credits but the balance is {balance}"
            f" ({cost - balance} missing)"
        )
        self.balance = balance
        self.cost = cost
        self.missing = cost - balance


class IdempotencyConflict(RenderbotError):
    code = "idempotency_conflict"
    http_status = 409

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used with a different request")
        self.key = key


class InvalidTransition(RenderbotError):
    code = "invalid_state"
    http_status = 409

    def __init__(self, job_id: str, status: str, action: str) -> None:
        super().__init__(f"render job {job_id} is {status}; cannot {action}")
        self.job_id = job_id
        self.status = status
        self.action = action


class RefundNotAllowed(RenderbotError):
    code = "refund_not_allowed"
    http_status = 409

    def __init__(self, job_id: str, reason: str) -> None:
        super().__init__(f"render job {job_id} cannot be refunded: {reason}")
        self.job_id = job_id


class TooManyAttempts(RenderbotError):
    """A throttled action (link-code redemption, admin sign-in) tried too often."""

    code = "too_many_attempts"
    http_status = 429

    def __init__(self, action: str, retry_after: float) -> None:
        wait = max(1, round(retry_after))
        super().__init__(f"too many {action} attempts; try again in {wait} s")
        self.action = action
        self.retry_after = wait


class PermissionDenied(RenderbotError):
    """An admin's role does not allow the action."""

    code = "permission_denied"
    http_status = 403

    def __init__(self, who: str, action: str) -> None:
        super().__init__(f"{who} may not {action}")
        self.who = who
        self.action = action
