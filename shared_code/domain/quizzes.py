"""Quiz answer keys and grading, apart from storage.

Grading is exact-set: a question earns its points when the chosen options are exactly its
correct options, and nothing otherwise. There is no partial credit, because for a
multiple-choice question "some right, some wrong" would otherwise reward ticking
everything. Answer keys are checked against the options when a quiz is written, answers
against the stored questions when an attempt arrives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shared_code.domain.fields import FieldError


class QuestionKey(Protocol):
    """A question as its tutor wrote it (the wire model `QuestionCreate` is one)."""

    prompt: str
    options: list[str]
    correct: list[int]
    points: int
    multiple: bool | None


@dataclass(frozen=True)
class Graded:
    """One question of an attempt, graded."""

    index: int
    correct: bool
    points: int
    awarded: int


def question_errors(questions: Sequence[QuestionKey]) -> list[FieldError]:
    """What is wrong with the questions' answer keys (indexes are checked against options)."""
    errors: list[FieldError] = []
    for i, q in enumerate(questions):
        where = f"questions[{i}].correct"
        bad = [c for c in q.correct if c < 0 or c >= len(q.options)]
        if bad:
            errors.append(FieldError(where, f"indexes {bad} are not options 0..{len(q.options) - 1}"))
        if len(set(q.correct)) != len(q.correct):
            errors.append(FieldError(where, "an option is listed twice"))
        if q.multiple is False and len(set(q.correct)) > 1:
            errors.append(FieldError(f"questions[{i}].multiple", "a single-choice question has exactly one correct option"))
    return errors


def stored_questions(questions: Sequence[QuestionKey]) -> list[dict[str, Any]]:
    return [
        {
            "prompt": q.prompt,
            "options": list(q.options),
            "correct": sorted(set(q.correct)),
            "points": q.points,
            "multiple": q.multiple if q.multiple is not None else len(set(q.correct)) > 1,
        }
        for q in questions
    ]


def answer_errors(questions: Sequence[dict[str, Any]], answers: Sequence[Sequence[int]]) -> list[FieldError]:
    if len(answers) != len(questions):
        return [FieldError("answers", f"expected {len(questions)} answers, one per question ([] leaves one unanswered)")]
    errors: list[FieldError] = []
    for i, (q, chosen) in enumerate(zip(questions, answers, strict=False)):
        where = f"answers[{i}]"
        if any(c < 0 or c >= len(q["options"]) for c in chosen):
            errors.append(FieldError(where, f"choose among options 0..{len(q['options']) - 1}"))
        elif len(set(chosen)) != len(chosen):
            errors.append(FieldError(where, "an option is chosen twice"))
        elif not q["multiple"] and len(chosen) > 1:
            errors.append(FieldError(where, "a single-choice question takes one option"))
    return errors


def grade(questions: Sequence[dict[str, Any]], answers: Sequence[Sequence[int]]) -> tuple[int, int, list[Graded]]:
    """(score, max score, per question): exact set match earns the points, anything else 0."""
    results: list[Graded] = []
    for i, q in enumerate(questions):
        chosen = set(answers[i]) if i < len(answers) else set()
        right = chosen == set(q["correct"])
        results.append(Graded(index=i, correct=right, points=q["points"], awarded=q["points"] if right else 0))
    return sum(r.awarded for r in results), sum(r.points for r in results), results
