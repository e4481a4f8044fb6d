"""Whether a new lesson order is one: every lesson of the course exactly once, nothing else."""

from __future__ import annotations

from shared_code.domain.lesson_order import order_errors

LESSONS = ["a", "b", "c"]


def test_a_permutation_of_the_course_s_lessons_is_an_order() -> None:
    assert order_errors(["c", "a", "b"], LESSONS) == []
    assert order_errors([], []) == []


def test_a_lesson_left_out_is_named() -> None:
    [error] = order_errors(["c", "a"], LESSONS)
    assert error.field == "lessonIds" and "b" in error.message


def test_a_duplicate_is_named_with_how_often_it_appears() -> None:
    errors = order_errors(["a", "a", "b", "c"], LESSONS)
    assert [(e.field, e.message) for e in errors] == [("lessonIds", "a appears 2 times")]


def test_a_lesson_of_another_course_is_named_by_its_index() -> None:
    errors = order_errors(["a", "x", "c"], LESSONS)
    assert ("lessonIds[1]", "x is not a lesson of this course") in [(e.field, e.message) for e in errors]
    assert any(e.field == "lessonIds" and "b" in e.message for e in errors)


def test_an_empty_order_of_a_course_with_lessons_is_refused() -> None:
    assert order_errors([], LESSONS) != []
