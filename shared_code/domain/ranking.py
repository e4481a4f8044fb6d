"""Where a student stands: ranks on a board, score buckets and completion rates for the
course's analytics. Pure arithmetic over numbers the stores hand in."""

from __future__ import annotations

from collections.abc import Sequence

BUCKETS = 10


def competition_ranks(points: Sequence[int]) -> list[int]:
    """Ranks of `points` sorted best first: ties share a rank, the next one skips (1, 2, 2, 4)."""
    ranks: list[int] = []
    for i, p in enumerate(points):
        ranks.append(ranks[-1] if i > 0 and p == points[i - 1] else i + 1)
    return ranks


def completion_rate(started: int, completed: int) -> float:
    return round(completed / started, 4) if started > 0 else 0.0


def bucket_of(best: int, max_score: int) -> int:
    """Tenths of the maximum score; a full score belongs to the last bucket, not an eleventh."""
    if max_score <= 0:
        return BUCKETS - 1
    return max(0, min(BUCKETS - 1, best * BUCKETS // max_score))
