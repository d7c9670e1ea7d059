"""Domain errors. Services raise these; ``app.py`` maps them to HTTP in one place."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail, **self.extra}

    def headers(self) -> dict[str, str] | None:
        return None


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class UnknownService(NotFound):
    code = "unknown_service"


class UnknownEnvironment(NotFound):
    code = "unknown_environment"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class DeployInProgress(Conflict):
    code = "deploy_in_progress"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class AlreadyLocked(Conflict):
    code = "already_locked"


class LockAlreadyEnded(Conflict):
    code = "lock_already_ended"


class Locked(DomainError):
    status_code = 423
    code = "locked"


class Invalid(DomainError):
    """A value that passed type validation but breaks a domain rule; names the field."""

    status_code = 422
    code = "validation_error"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", fields={field: reason})


class Unavailable(DomainError):
    """The database cannot be reached, is read-only or is full: try again shortly.

    Nothing was written: the transaction that met the outage rolled back.
    """

    status_code = 503
    code = "unavailable"
    retry_after = 5  # seconds

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class TooManyRequests(DomainError):
    """This caller already has such a request running: wait for it."""

    status_code = 429
    code = "too_many_requests"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}
