"""Watched-time capping, completion and offline folding: the rules heartbeats live by."""

from __future__ import annotations

import pytest

from shared_code.services.progress import (
    ALLOWANCE_SECONDS,
    GAP_LIMIT_SECONDS,
    RATE,
    cap_watched,
    course_fraction,
    fold_events,
    is_complete,
    merge_offline,
)


def test_watched_time_grows_by_what_the_wall_clock_allows() -> None:
    # 10 s after the last heartbeat, at most 10 × 1.5 + allowance more counts.
    assert cap_watched(100.0, 10.0, 1000.0, 3600.0) == pytest.approx(100 + 10 * RATE + ALLOWANCE_SECONDS)


def test_an_honest_claim_within_the_allowance_is_taken_as_is() -> None:
    assert cap_watched(100.0, 10.0, 110.0, 3600.0) == 110.0


def test_skipping_ahead_right_after_starting_earns_only_the_allowance() -> None:
    assert cap_watched(0.0, 0.0, 540.0, 600.0) == ALLOWANCE_SECONDS


def test_watched_time_never_moves_backwards() -> None:
    assert cap_watched(300.0, 5.0, 10.0, 600.0) == 300.0
    assert cap_watched(300.0, -50.0, 0.0, 600.0) == 300.0


def test_watched_time_never_exceeds_the_duration() -> None:
    assert cap_watched(590.0, 60.0, 10_000.0, 600.0) == 600.0


def test_a_long_silence_is_a_pause_not_viewing_time() -> None:
    day = 86_400.0
    assert cap_watched(0.0, day, day, 2 * day) == pytest.approx(GAP_LIMIT_SECONDS * RATE + ALLOWANCE_SECONDS)


def test_a_clock_running_backwards_earns_nothing_beyond_the_allowance() -> None:
    assert cap_watched(50.0, -30.0, 200.0, 600.0) == 50.0 + ALLOWANCE_SECONDS


@pytest.mark.parametrize(
    ("watched", "duration", "threshold", "done"),
    [(89.9, 100.0, 0.9, False), (90.0, 100.0, 0.9, True), (100.0, 100.0, 1.0, True), (5.0, 0.0, 0.9, False)],
)
def test_completion_is_reaching_the_threshold_share_of_the_duration(
    watched: float, duration: float, threshold: float, done: bool
) -> None:
    assert is_complete(watched, duration, threshold) is done


def test_course_progress_is_a_bounded_fraction() -> None:
    assert course_fraction(1, 3) == pytest.approx(0.3333)
    assert course_fraction(0, 0) == 0.0
    assert course_fraction(5, 4) == 1.0


def _events(*items: tuple[float, float, float]) -> list[tuple[int, float, float]]:
    """(seconds after t0, watched, position) → (client ms, watched, position)."""
    t0 = 1_700_000_000_000
    return [(t0 + int(s * 1000), w, p) for s, w, p in items]


def test_offline_events_count_in_client_time_order_whatever_order_they_arrive_in() -> None:
    ordered = _events((0, 4, 4), (5, 9, 9), (10, 14, 14), (15, 19, 19))
    shuffled = [ordered[2], ordered[0], ordered[3], ordered[1]]
    a = fold_events(0.0, None, ordered, 600.0)
    b = fold_events(0.0, None, shuffled, 600.0)
    assert a == b
    assert a.watched == 19 and a.position == 19 and a.latest_ms == ordered[-1][0]


def test_duplicate_offline_events_change_nothing() -> None:
    events = _events((0, 4, 4), (5, 9, 9))
    once = fold_events(0.0, None, events, 600.0)
    twice = fold_events(0.0, None, events + events + [events[1]], 600.0)
    assert once == twice


def test_replaying_a_synced_batch_teaches_nothing_new() -> None:
    events = _events((0, 4, 4), (5, 9, 9), (10, 200, 200))
    first = fold_events(0.0, None, events, 600.0)
    again = fold_events(first.watched, first.latest_ms, events, 600.0)
    assert again.watched == first.watched
    assert again.position is None  # nothing newer than what is stored


def test_offline_skip_ahead_is_capped_by_client_time_between_events() -> None:
    folded = fold_events(0.0, None, _events((0, 4, 4), (2, 500, 500)), 600.0)
    assert folded.watched == pytest.approx(4 + 2 * RATE + ALLOWANCE_SECONDS)
    assert folded.position == 500


def test_events_older_than_the_stored_progress_are_ignored() -> None:
    events = _events((0, 30, 30), (5, 35, 35))
    known = events[-1][0] + 60_000
    folded = fold_events(100.0, known, events, 600.0)
    assert folded.watched == 100.0 and folded.position is None and folded.latest_ms == known


def test_equal_client_times_take_the_largest_claim_whatever_the_order() -> None:
    a = fold_events(0.0, None, _events((0, 3, 3), (0, 4, 4)), 600.0)
    b = fold_events(0.0, None, _events((0, 4, 4), (0, 3, 3)), 600.0)
    assert a == b and a.watched == 4


def test_an_offline_batch_from_before_the_latest_online_heartbeat_still_counts() -> None:
    offline = _events((0, 0, 0), (5, 5, 5), (10, 10, 10), (15, 15, 15))
    online_later = offline[-1][0] + 3_600_000  # another device watched a bit an hour later
    merged = merge_offline(4.0, online_later, offline, 600.0)
    assert merged.watched == 15
    assert merged.position is None, "the newer online position stays"
    assert merged.latest_ms == online_later


def test_replaying_a_capped_offline_batch_earns_nothing_more() -> None:
    cheat = _events((0, 4, 4), (2, 500, 500))
    first = merge_offline(0.0, None, cheat, 600.0)
    assert first.watched == pytest.approx(4 + 2 * RATE + ALLOWANCE_SECONDS)
    again = merge_offline(first.watched, first.latest_ms, cheat, 600.0)
    assert again.watched == first.watched and again.position is None
    shuffled = merge_offline(first.watched, first.latest_ms, list(reversed(cheat)), 600.0)
    assert shuffled == again


def test_an_offline_batch_continues_from_what_is_stored() -> None:
    events = _events((0, 100, 100), (10, 112, 112))
    merged = merge_offline(100.0, events[0][0] - 5_000, events, 600.0)
    assert merged.watched == 112 and merged.position == 112
