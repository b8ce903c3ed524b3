"""The exception hierarchy: caller mistakes apart from runtime failures.

CapeError
├── ClientError            the caller can fix it (4xx)
│   ├── BadRequest         400: a request the server cannot read at all (broken JSON)
│   ├── Unauthorized       401
│   ├── Forbidden          403
│   ├── NotFound           404
│   ├── TimedOut           408: a wait the caller bounded ran out (a lock not granted in time)
│   ├── Conflict           409
│   ├── PayloadTooLarge    413
│   ├── UnsupportedMediaType 415
│   ├── InvalidInput       422
│   ├── RateLimited        429: too many requests of one key this minute (`Retry-After`)
│   └── LimitExceeded      429: a team limit (running tasks, daily tokens) refuses a new task
└── RuntimeFailure         the platform could not do it (5xx)
    └── Unavailable        503: a dependency (Temporal, the database) is down
        └── NoWorker       503: no worker polls the task queue a lock's workflow needs
"""

from __future__ import annotations

from typing import Any


class CapeError(Exception):
    """Base of every CapeControl error; carries a stable code and an HTTP status."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_body(self) -> dict[str, Any]:
        """The JSON error body of every HTTP error (docs/architecture.md, Errors)."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class ClientError(CapeError):
    """A mistake of the caller: bad input, unknown resource, missing rights."""

    status_code = 400
    code = "bad_request"


class BadRequest(ClientError):
    """A request the server cannot read at all, e.g. a body that is not valid JSON."""

    status_code = 400
    code = "bad_request"


class Unauthorized(ClientError):
    """No or an unknown API key."""

    status_code = 401
    code = "unauthorized"


class Forbidden(ClientError):
    """A known caller without the right to do this."""

    status_code = 403
    code = "forbidden"


class NotFound(ClientError):
    """The named resource does not exist (or is not visible to the caller)."""

    status_code = 404
    code = "not_found"


class TimedOut(ClientError):
    """What the caller asked to wait for did not happen within the time it allowed."""

    status_code = 408
    code = "timed_out"


class Conflict(ClientError):
    """The request contradicts the current state."""

    status_code = 409
    code = "conflict"


class PayloadTooLarge(ClientError):
    """A body over the configured limit."""

    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(ClientError):
    """A body in a format the route does not read."""

    status_code = 415
    code = "unsupported_media_type"


class InvalidInput(ClientError):
    """Input that fails validation; `details` lists the problems by field."""

    status_code = 422
    code = "invalid_input"


class RateLimited(ClientError):
    """The key sent more requests this minute than its team allows; `retry_after` seconds."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class LimitExceeded(ClientError):
    """A team limit (running tasks, tokens today) refuses a new task; running ones go on."""

    status_code = 429
    code = "limit_exceeded"


class RuntimeFailure(CapeError):
    """The platform failed to do something the caller asked correctly."""


class Unavailable(RuntimeFailure):
    """A dependency is down; the caller may retry later."""

    status_code = 503
    code = "unavailable"


class NoWorker(Unavailable):
    """No worker polls the task queue a request needs (a lock's workflow cannot answer)."""

    code = "no_worker"
