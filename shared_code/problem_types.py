"""Every problem `type` the API answers with, and what it means.

Clients branch on `type`, never on `title` or `detail`, so each one is part of the contract:
the OpenAPI document lists them (`components.schemas.ProblemType`, and per status on each
error response), and `docs/problems.md` is written from this table by `make openapi`.
A unit test checks that every error class and every slug the code passes by hand is here.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared_code.problems import TYPE_BASE


@dataclass(frozen=True)
class ProblemType:
    slug: str
    status: int
    title: str
    meaning: str

    @property
    def uri(self) -> str:
        # The host's own bare answers (before any function runs) use RFC 9457's "about:blank".
        return self.slug if self.slug == "about:blank" else TYPE_BASE + self.slug


PROBLEM_TYPES: tuple[ProblemType, ...] = (
    ProblemType("bad-request", 400, "Bad Request",
                "The request could not be read: malformed JSON, a body that is not an object, text that is not "
                "valid UTF-8, or JSON nested too deep. Fix the request; sending it again unchanged fails again."),
    ProblemType("validation-error", 400, "Request validation failed",
                "The body or the query is well-formed JSON but a field is missing, has the wrong type or is out "
                "of range. `errors` lists each field (camelCase path as sent) with its message."),
    ProblemType("invalid-signature", 400, "Invalid webhook signature",
                "A payment provider's webhook whose signature header is missing, stale or not made with our "
                "secret. Only the providers call these endpoints."),
    ProblemType("unauthorized", 401, "Authentication required",
                "No bearer token, or one that is expired, not yet valid, badly signed, or from another issuer or "
                "audience. Sign in again and retry with the new token."),
    ProblemType("forbidden", 403, "Forbidden",
                "The token is valid but its role or the caller's relation to the resource (enrolled, owning "
                "tutor, admin) does not allow the action."),
    ProblemType("not-found", 404, "Not Found",
                "No such resource, or one the caller may not know exists; also a path id that is not a UUID, "
                "and a path or method nothing serves."),
    ProblemType("conflict", 409, "Conflict",
                "The request clashes with the resource's current state (already enrolled, already published, "
                "a purchase in progress), or an `Idempotency-Key` was reused with a different body."),
    ProblemType("taken-down", 409, "Taken down",
                "An admin took the course or material down: its tutor may still read it, but not change it, "
                "publish it, hand it on (playback, downloads) or teach it live until an admin restores it. "
                "To everyone else it does not exist (404)."),
    ProblemType("quiz-attempted", 409, "Quiz already attempted",
                "Students have attempted this quiz, so its questions and answer keys no longer change: their "
                "scores, completions and leaderboard points were earned against them. The title, pass mark and "
                "attempt limit still change; to ask other questions, delete the quiz (its attempts go with it) "
                "or add another."),
    ProblemType("payload-too-large", 413, "Payload Too Large",
                "The body is over the size limit of the endpoint."),
    ProblemType("unsupported-media-type", 415, "Unsupported Media Type",
                "A body was sent with a content type other than `application/json`."),
    ProblemType("unprocessable", 422, "Unprocessable request",
                "Well-formed and valid, but not allowed by the domain rules now (answering a closed poll, "
                "starting an ended class, a lesson naming another tutor's video). `detail` says which rule."),
    ProblemType("rate-limited", 429, "Too Many Requests",
                "Too many requests from this user or address. Wait the `Retry-After` seconds, then retry."),
    ProblemType("service-unavailable", 503, "A dependency is unavailable",
                "A store the request needs (PostgreSQL, Redis, Storage, Web PubSub) did not answer. Nothing was "
                "half-done; retry after `Retry-After` seconds (with the same `Idempotency-Key` for writes)."),
    ProblemType("dependency-unavailable", 503, "A dependency is unavailable",
                "A store has failed repeatedly and the app stopped calling it for a few seconds (circuit open). "
                "Retry after `Retry-After` seconds."),
    ProblemType("internal-error", 500, "Internal Server Error",
                "A bug: the server failed to handle the request. `correlationId` finds it in the logs; quote it "
                "when reporting. Never expected for any input."),
    ProblemType("about:blank", 404, "Not Found",
                "The host's own answer for a path outside the API's route prefix, before the app sees it."),
)

BY_SLUG = {p.slug: p for p in PROBLEM_TYPES}


def for_status(status: int) -> list[ProblemType]:
    """The types an operation's response with this status can carry (the host's own aside)."""
    return [p for p in PROBLEM_TYPES if p.status == status and p.slug != "about:blank"]


def problems_markdown() -> str:
    """docs/problems.md: the page each problem `type` URI stands for."""
    lines = [
        "# Problem types",
        "",
        "Every error leaves the API as `application/problem+json` (RFC 9457):",
        "`{type, title, status, detail?, errors?: [{field, message}], correlationId?}`.",
        "Branch on `type`; `title` and `detail` are for people and may change.",
        "This page is written by `make openapi` from `shared_code/problem_types.py`; the OpenAPI",
        "document lists the same types (`components.schemas.ProblemType`) and, on each error",
        "response, the ones that status can carry.",
        "",
        "| type | status | meaning |",
        "|---|---|---|",
    ]
    for p in PROBLEM_TYPES:
        lines.append(f"| <a id=\"{p.slug.replace(':', '-')}\"></a>`{p.uri}` | {p.status} | {p.meaning} |")
    return "\n".join(lines) + "\n"
