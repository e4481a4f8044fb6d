"""What each notification says: its kind, its words, its data and the key that makes it
happen once per user. Pure: the services decide who receives it and when.

A dedupe key names the event, not the delivery (`class.reminder:<classId>:<time>`: the
class at the time it is scheduled for), so a retried effect or a timer that sees the same
class twice writes no second row for the same user, while a class moved to another time is
reminded again at its new one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

NotificationKind = Literal[
    "class.reminder", "class.cancelled", "material.published", "quiz.graded", "purchase.refunded", "certificate.issued",
    "privacy.export.ready",
]
KINDS: tuple[NotificationKind, ...] = (
    "class.reminder", "class.cancelled", "material.published", "quiz.graded", "purchase.refunded", "certificate.issued",
    "privacy.export.ready",
)

# Longest title and body stored: the words come from titles and file names users chose.
TITLE_MAX = 200
BODY_MAX = 1000


@dataclass(frozen=True)
class Draft:
    """One notification before it has a recipient."""

    kind: NotificationKind
    title: str
    body: str
    key: str
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """The draft as JSON for an outbox message (times as ISO-8601)."""
        return {"kind": self.kind, "title": self.title, "body": self.body, "key": self.key,
                "at": self.at.isoformat(), "data": self.data}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Draft:
        kind = payload["kind"]
        if kind not in KINDS:
            raise ValueError(f"unknown notification kind {kind!r}")
        return cls(
            kind=kind, title=str(payload["title"]), body=str(payload["body"]), key=str(payload["key"]),
            at=datetime.fromisoformat(payload["at"]), data=dict(payload.get("data") or {}),
        )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _draft(kind: NotificationKind, title: str, body: str, key: str, at: datetime, data: dict[str, Any]) -> Draft:
    return Draft(kind=kind, title=_clip(title, TITLE_MAX), body=_clip(body, BODY_MAX), key=key, at=at, data=data)


def reminder_key(class_id: str, scheduled_at: datetime) -> str:
    """The class at the minute it is scheduled for, in UTC."""
    return f"class.reminder:{class_id}:{scheduled_at.astimezone(UTC):%Y-%m-%dT%H:%MZ}"


def class_reminder(class_id: str, course_id: str, title: str, scheduled_at: datetime, at: datetime) -> Draft:
    minutes = max(0, round((scheduled_at - at).total_seconds() / 60))
    when = "now" if minutes == 0 else f"in {minutes} minute{'s' if minutes != 1 else ''}"
    return _draft(
        "class.reminder", f"Class starts {when}: {title}", f"The live class “{title}” is scheduled for "
        f"{scheduled_at.isoformat(timespec='minutes')}.", reminder_key(class_id, scheduled_at), at,
        {"classId": class_id, "courseId": course_id, "scheduledAt": scheduled_at.isoformat()},
    )


def class_cancelled(class_id: str, course_id: str, title: str, scheduled_at: datetime, at: datetime) -> Draft:
    return _draft(
        "class.cancelled", f"Class cancelled: {title}", f"The live class “{title}” scheduled for "
        f"{scheduled_at.isoformat(timespec='minutes')} will not take place.", f"class.cancelled:{class_id}", at,
        {"classId": class_id, "courseId": course_id, "scheduledAt": scheduled_at.isoformat()},
    )


def material_published(material_id: str, course_id: str, course_title: str, file_name: str, at: datetime) -> Draft:
    return _draft(
        "material.published", f"New material in {course_title}", f"{file_name} is ready to download.",
        f"material.published:{material_id}", at,
        {"materialId": material_id, "courseId": course_id, "fileName": file_name},
    )


def quiz_graded(
    attempt_id: str, quiz_id: str, course_id: str, quiz_title: str, score: int, max_score: int, at: datetime
) -> Draft:
    return _draft(
        "quiz.graded", f"Quiz graded: {quiz_title}", f"You scored {score} of {max_score}.",
        f"quiz.graded:{attempt_id}", at,
        {"attemptId": attempt_id, "quizId": quiz_id, "courseId": course_id, "score": score, "maxScore": max_score},
    )


def refund_processed(purchase_id: str, course_id: str, amount_cents: int, currency: str, at: datetime) -> Draft:
    amount = f"{amount_cents // 100}.{amount_cents % 100:02d} {currency.upper()}"
    return _draft(
        "purchase.refunded", "Refund processed", f"Your payment of {amount} for this course was refunded.",
        f"purchase.refunded:{purchase_id}", at,
        {"purchaseId": purchase_id, "courseId": course_id, "amountCents": amount_cents, "currency": currency},
    )


def certificate_issued(code: str, course_id: str, course_title: str, at: datetime) -> Draft:
    return _draft(
        "certificate.issued", _clip(f"Certificate: {course_title}", TITLE_MAX),
        "You completed every lesson of this course. Your certificate is ready to share.",
        f"certificate.issued:{code}", at, {"code": code, "courseId": course_id},
    )


def export_ready(export_id: str, expires_at: datetime, at: datetime) -> Draft:
    return _draft(
        "privacy.export.ready", "Your data export is ready",
        f"Everything Lectern holds about you is in one file, ready to download until {expires_at:%Y-%m-%d %H:%M} UTC.",
        f"privacy.export.ready:{export_id}", at, {"exportId": export_id, "expiresAt": expires_at.astimezone(UTC).isoformat()},
    )
