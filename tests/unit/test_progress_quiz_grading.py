"""Quiz answer keys and grading: exact set match per question, no partial credit."""

from __future__ import annotations

import pytest

from shared_code.domain.quizzes import answer_errors, grade, question_errors, stored_questions
from shared_code.models.progress import QuestionCreate

QUESTIONS = stored_questions(
    [
        QuestionCreate(prompt="2 + 2?", options=["3", "4", "5"], correct=[1], points=1),
        QuestionCreate(prompt="Primes?", options=["2", "4", "5", "9"], correct=[2, 0], points=3),
        QuestionCreate(prompt="Pick one", options=["a", "b"], correct=[0], points=2, multiple=True),
    ]
)


def test_stored_keys_are_sorted_and_multiple_follows_the_key_unless_stated() -> None:
    assert [q["correct"] for q in QUESTIONS] == [[1], [0, 2], [0]]
    assert [q["multiple"] for q in QUESTIONS] == [False, True, True]


def test_all_right_scores_every_point() -> None:
    score, max_score, per = grade(QUESTIONS, [[1], [0, 2], [0]])
    assert (score, max_score) == (6, 6)
    assert all(r.correct and r.awarded == r.points for r in per)


def test_order_of_chosen_options_does_not_matter() -> None:
    assert grade(QUESTIONS, [[1], [2, 0], [0]])[0] == 6


def test_a_subset_of_the_right_options_earns_nothing() -> None:
    score, _, per = grade(QUESTIONS, [[1], [0], [0]])
    assert score == 3
    assert (per[1].correct, per[1].awarded, per[1].points) == (False, 0, 3)


def test_a_superset_of_the_right_options_earns_nothing() -> None:
    assert grade(QUESTIONS, [[1], [0, 1, 2], [0]])[0] == 3


def test_an_unanswered_question_earns_nothing() -> None:
    score, _, per = grade(QUESTIONS, [[], [0, 2], []])
    assert score == 3
    assert [r.index for r in per] == [0, 1, 2]


def test_answers_must_cover_every_question() -> None:
    errors = answer_errors(QUESTIONS, [[1], [0, 2]])
    assert [e.field for e in errors] == ["answers"]


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ([[3], [0, 2], [0]], "answers[0]"),
        ([[1], [0, -1], [0]], "answers[1]"),
        ([[1], [0, 0], [0]], "answers[1]"),
        ([[0, 1], [0, 2], [0]], "answers[0]"),
    ],
)
def test_answers_outside_the_options_or_doubled_or_too_many_for_single_choice_are_refused(
    answers: list[list[int]], field: str
) -> None:
    assert [e.field for e in answer_errors(QUESTIONS, answers)] == [field]


def test_several_picks_are_fine_on_a_question_shown_as_multiple_choice() -> None:
    assert answer_errors(QUESTIONS, [[1], [0, 2], [0, 1]]) == []


def test_answer_keys_must_point_at_options() -> None:
    errors = question_errors(
        [
            QuestionCreate(prompt="p", options=["a", "b"], correct=[2]),
            QuestionCreate(prompt="p", options=["a", "b"], correct=[0, 0]),
            QuestionCreate(prompt="p", options=["a", "b"], correct=[0, 1], multiple=False),
            QuestionCreate(prompt="p", options=["a", "b"], correct=[1]),
        ]
    )
    assert [e.field for e in errors] == ["questions[0].correct", "questions[1].correct", "questions[2].multiple"]
