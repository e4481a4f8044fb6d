"""Domain errors that services raise; `problems.py` is the one place that turns them into HTTP.

Each error carries a stable `type` slug so clients can branch on it without parsing prose.
"""

from __future__ import annotations

from shared_code.domain.fields import FieldError  # the rules' value, carried out by `Invalid`


class LecternError(Exception):
    """Base of every error that maps to a problem+json response."""

    status: int = 500
    type_slug: str = "internal-error"
    title: str = "Internal Server Error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[FieldError] | None = None,
        retry_after: int | None = None,
        title: str | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = errors or []
        self.retry_after = retry_after
        if title:
            self.title = title


class BadRequest(LecternError):
    status, type_slug, title = 400, "bad-request", "Bad Request"


class ValidationFailed(LecternError):
    status, type_slug, title = 400, "validation-error", "Request validation failed"


class Unauthorized(LecternError):
    status, type_slug, title = 401, "unauthorized", "Authentication required"


class Forbidden(LecternError):
    status, type_slug, title = 403, "forbidden", "Forbidden"


class NotFound(LecternError):
    status, type_slug, title = 404, "not-found", "Not Found"


class Conflict(LecternError):
    status, type_slug, title = 409, "conflict", "Conflict"


class TakenDown(Conflict):
    """A course or material an admin took down: read-only to its owner until restored."""

    type_slug, title = "taken-down", "Taken down"


class QuizAttempted(Conflict):
    """A change to a quiz's questions or answer keys after students attempted it."""

    type_slug, title = "quiz-attempted", "Quiz already attempted"


class PayloadTooLarge(LecternError):
    status, type_slug, title = 413, "payload-too-large", "Payload Too Large"


class UnsupportedMediaType(LecternError):
    status, type_slug, title = 415, "unsupported-media-type", "Unsupported Media Type"


class Invalid(LecternError):
    """Well-formed but not allowed by the domain rules (422)."""

    status, type_slug, title = 422, "unprocessable", "Unprocessable request"


class RateLimited(LecternError):
    status, type_slug, title = 429, "rate-limited", "Too Many Requests"


class ServiceUnavailable(LecternError):
    status, type_slug, title = 503, "service-unavailable", "A dependency is unavailable"


__all__ = [
    "BadRequest",
    "Conflict",
    "FieldError",
    "Forbidden",
    "Invalid",
    "LecternError",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ServiceUnavailable",
    "TakenDown",
    "Unauthorized",
    "UnsupportedMediaType",
    "ValidationFailed",
]
