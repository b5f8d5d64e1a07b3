"""Typed SDK errors: one class per kind of failure, each carrying the server's machine `code`.

Catch `ApiError` for everything, or a subclass for one case:

    try:
        client.get(job_id)
    except NotFound as exc:
        print(exc.code)  # "job_not_found"
"""

from __future__ import annotations


class ApiError(RuntimeError):
    """The API answered with an error (or could not be reached: `status` 0).

    `status` is the HTTP status, `code` the server's machine code (`docs/api.md` lists them),
    `detail` its sentence naming the problem, `retry_after` the seconds it asked to wait (429/503).
    """

    def __init__(
        self, status: int, detail: str, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code
        self.retry_after = retry_after

    def __str__(self) -> str:
        where = f"HTTP {self.status}" if self.status else "no answer"
        return f"{self.detail} ({where}" + (f", {self.code})" if self.code else ")")


class BadRequest(ApiError):
    """400: the request is malformed (e.g. a body that is not JSON)."""


class AuthenticationError(ApiError):
    """401: the API key or token is missing, wrong, expired or revoked."""


class PermissionDenied(ApiError):
    """403: not allowed (a wrong password, demo mode)."""


class NotFound(ApiError):
    """404: no such object, or it belongs to another user (`job_not_found`, `report_not_ready`)."""


class Conflict(ApiError):
    """409: conflicts with the current state (`duplicate_job`, `job_finished`, `idempotency_conflict`)."""


class PayloadTooLarge(ApiError):
    """413: the request body is over the limit."""


class ValidationError(ApiError):
    """422: invalid input; `detail` names the field (`invalid_spec`, `tier_cap_exceeded`, ...)."""


class RateLimited(ApiError):
    """429: over a rate limit or quota; `retry_after` says when to come back."""


class ServerError(ApiError):
    """5xx: the platform failed (502 orchestrator error, 500 internal)."""


class ServiceUnavailable(ServerError):
    """503: a backing service is unavailable for now (`orchestrator_unavailable`, ...)."""


class ConnectionFailed(ApiError):
    """The API could not be reached, or the connection broke before an answer (`status` 0).

    `never_sent` is True when no connection was opened, so the request cannot have had an effect.
    """

    never_sent: bool = False


class StreamInterrupted(ConnectionFailed):
    """The event stream broke and could not be resumed within the retries."""


class IntegrityError(ApiError):
    """A downloaded file does not match the SHA-256 or size the server listed for it."""


class WaitTimeout(ApiError):
    """`wait()` gave up before the job reached a terminal status (the job goes on)."""


class NotConfigured(RuntimeError):
    """No API URL/key could be found (no running `simswarm up`, no SIMSWARM_API_URL)."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: ValidationError,
    429: RateLimited,
    503: ServiceUnavailable,
}


def error_for(status: int, detail: str, code: str | None, retry_after: float | None = None) -> ApiError:
    """The typed error for an HTTP status."""
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    return cls(status, detail, code, retry_after)
