"""Leaderboard ranking, score buckets and change-log keys."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from shared_code.adapters.table_keys import change_row_key as row_key
from shared_code.domain.ranking import bucket_of, competition_ranks, completion_rate
from shared_code.services.progress.analytics import distribution


def test_ties_share_a_rank_and_the_next_rank_skips() -> None:
    assert competition_ranks([30, 20, 20, 10]) == [1, 2, 2, 4]


def test_everyone_tied_is_first() -> None:
    assert competition_ranks([5, 5, 5]) == [1, 1, 1]


def test_no_ties_rank_by_position() -> None:
    assert competition_ranks([9, 7, 3]) == [1, 2, 3]
    assert competition_ranks([]) == []


def test_change_log_row_keys_sort_by_time() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    keys = [row_key(t + timedelta(milliseconds=ms), "quiz.attempted", "x") for ms in (0, 1, 999, 1000, 10**9)]
    assert keys == sorted(keys)
    # the kind and subject never reorder events of different milliseconds
    assert row_key(t, "quiz.attempted", "zzz") < row_key(t + timedelta(milliseconds=1), "leaderboard.changed", "aaa")


def test_score_distribution_lists_every_bucket_of_every_quiz() -> None:
    q1, q2 = str(uuid.uuid4()), str(uuid.uuid4())
    quizzes = [{"id": q1, "title": "One", "max_score": 10}, {"id": q2, "title": "Two", "max_score": 4}]
    counts = [
        {"quiz_id": q1, "best": 10, "students": 2},
        {"quiz_id": q1, "best": 9, "students": 1},
        {"quiz_id": q1, "best": 0, "students": 1},
    ]
    out = distribution(quizzes, counts)
    assert [d.students for d in out] == [4, 0]
    assert [b.students for b in out[0].buckets] == [1, 0, 0, 0, 0, 0, 0, 0, 0, 3]
    assert (out[0].buckets[9].from_percent, out[0].buckets[9].to_percent) == (90, 100)
    assert all(len(d.buckets) == 10 for d in out)


def test_completion_rate_is_of_those_who_started() -> None:
    assert completion_rate(4, 1) == 0.25
    assert completion_rate(0, 0) == 0.0


def test_scores_fall_into_tenths_with_a_full_score_in_the_last() -> None:
    assert [bucket_of(s, 6) for s in range(7)] == [0, 1, 3, 5, 6, 8, 9]
    assert bucket_of(0, 0) == 9
    assert bucket_of(10, 10) == 9 and bucket_of(99, 100) == 9 and bucket_of(89, 100) == 8
