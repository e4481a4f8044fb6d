"""Whether a new lesson order is one: every lesson of the course exactly once, nothing else."""

from __future__ import annotations

from collections import Counter

from shared_code.domain.fields import FieldError

FIELD = "lessonIds"


def order_errors(wanted: list[str], current: list[str]) -> list[FieldError]:
    """What is wrong with `wanted` as an order of `current` (empty when it is one).

    Each duplicate, each id that is not a lesson of the course and each lesson left out is
    named, so the tutor app can show what to fix."""
    errors: list[FieldError] = []
    known = set(current)
    for lesson_id, times in Counter(wanted).items():
        if times > 1:
            errors.append(FieldError(FIELD, f"{lesson_id} appears {times} times"))
    for index, lesson_id in enumerate(wanted):
        if lesson_id not in known:
            errors.append(FieldError(f"{FIELD}[{index}]", f"{lesson_id} is not a lesson of this course"))
    given = set(wanted)
    missing = [lesson_id for lesson_id in current if lesson_id not in given]
    if missing:
        errors.append(FieldError(FIELD, "missing lessons: " + ", ".join(missing)))
    return errors
