"""The watch rule, completion and offline folding: what heartbeats and offline syncs live by,
with explicit server times."""

from __future__ import annotations

import random

import pytest

from shared_code.domain.watch import (
    ALLOWANCE_SECONDS,
    GAP_LIMIT_SECONDS,
    NEVER,
    RATE,
    Watch,
    clamp_event_ms,
    course_fraction,
    earn,
    fold_events,
    is_complete,
    merge_offline,
)

T0 = 1_700_000_000_000  # a server time in ms


def at(seconds: float) -> int:
    return T0 + int(seconds * 1000)


def run(beats: list[tuple[float, float]], duration: float = 600.0, start: Watch = NEVER) -> Watch:
    """Heartbeats `(seconds after T0, claimed watched)` through the rule, in order."""
    state = start
    for seconds, claimed in beats:
        state = earn(state, at(seconds), claimed, duration)
    return state


# --- one session -------------------------------------------------------------------------
def test_a_first_heartbeat_earns_only_the_allowance() -> None:
    assert run([(0, 540)]).watched == ALLOWANCE_SECONDS


def test_an_honest_player_records_what_it_played() -> None:
    beats = [(5 * i, 5.0 * i) for i in range(1, 121)]  # 10 minutes at 1×, a beat every 5 s
    assert run(beats).watched == 600.0


def test_a_player_at_one_and_a_half_speed_keeps_up() -> None:
    beats = [(0, 5.0)] + [(5 * i, 5.0 + 7.5 * i) for i in range(1, 40)]
    assert run(beats).watched == pytest.approx(5.0 + 7.5 * 39)


def test_a_hundred_heartbeats_in_a_second_earn_what_one_does() -> None:
    spam = [(i / 100, 600.0) for i in range(100)]
    state = run(spam)
    assert state.watched <= ALLOWANCE_SECONDS + 1 * RATE
    assert not is_complete(state.watched, 600.0, 0.9)


def test_over_a_session_watched_time_is_bounded_by_the_wall_clock_whatever_the_requests() -> None:
    rng = random.Random(16)
    for _ in range(200):
        t, state, beats = 0.0, NEVER, []
        for _ in range(rng.randint(1, 60)):
            t += rng.choice([0.0, 0.001, 0.2, 1.0, 5.0, 30.0])
            beats.append((t, rng.uniform(0, 3600)))
        state = run(beats, duration=3600.0)
        assert state.watched <= ALLOWANCE_SECONDS + t * RATE + 1e-9


def test_pausing_then_seeking_ahead_earns_only_the_carried_allowance() -> None:
    # Played 10 s, then the player sat paused (still beating) for four minutes, then jumped.
    beats = [(0, 5), (5, 10)] + [(5 + 5 * i, 10) for i in range(1, 49)] + [(250, 400)]
    state = run(beats)
    assert state.watched <= 10 + ALLOWANCE_SECONDS + 5 * RATE


def test_the_credit_carried_between_heartbeats_never_exceeds_the_allowance() -> None:
    state = run([(0, 0), (200, 0)])
    assert state.credit == ALLOWANCE_SECONDS


def test_watched_time_never_moves_backwards() -> None:
    state = run([(0, 5), (5, 10)])
    assert run([(10, 2)], start=state).watched == 10


def test_watched_time_never_exceeds_the_duration() -> None:
    assert run([(0, 5), (60, 10_000)], duration=60.0).watched == 60.0


def test_a_clock_running_backwards_earns_nothing_more() -> None:
    state = run([(100, 5)])
    back = earn(state, at(70), 200, 600.0)
    assert back.watched == 5 and back.heard_ms == at(100)


# --- sessions and gaps ---------------------------------------------------------------------
def test_a_pause_longer_than_the_gap_limit_starts_a_session_with_a_fresh_allowance() -> None:
    state = run([(0, 5)])
    later = earn(state, at(5 + GAP_LIMIT_SECONDS + 1), 600, 600.0)
    assert later.watched == 5 + ALLOWANCE_SECONDS, "the silence itself is not viewing time"


def test_a_pause_within_the_gap_limit_is_paid_by_the_clock_not_by_a_new_allowance() -> None:
    state = run([(0, 5)])  # the allowance is spent
    later = earn(state, at(2), 600, 600.0)
    assert later.watched == 5 + 2 * RATE


def test_a_stored_row_without_credit_earns_only_what_the_clock_paid_since() -> None:
    stored = Watch(watched=100.0, heard_ms=at(0), credit=0.0)
    assert earn(stored, at(4), 600, 600.0).watched == 100 + 4 * RATE


# --- completion ----------------------------------------------------------------------------
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


# --- offline events ------------------------------------------------------------------------
def _events(*items: tuple[float, float, float]) -> list[tuple[int, float, float]]:
    """(seconds after T0, watched, position) → (ms, watched, position)."""
    return [(at(s), w, p) for s, w, p in items]


def test_client_times_are_never_later_than_the_server_clock() -> None:
    assert clamp_event_ms(at(100), at(50)) == at(50)
    assert clamp_event_ms(at(10), at(50)) == at(10)


def test_offline_events_count_in_time_order_whatever_order_they_arrive_in() -> None:
    ordered = _events((0, 4, 4), (5, 9, 9), (10, 14, 14), (15, 19, 19))
    shuffled = [ordered[2], ordered[0], ordered[3], ordered[1]]
    a = fold_events(NEVER, ordered, 600.0)
    b = fold_events(NEVER, shuffled, 600.0)
    assert a == b
    assert a.watched == 19 and a.position == 19 and a.latest_ms == ordered[-1][0]


def test_duplicate_offline_events_change_nothing() -> None:
    events = _events((0, 4, 4), (5, 9, 9))
    once = fold_events(NEVER, events, 600.0)
    twice = fold_events(NEVER, events + events + [events[1]], 600.0)
    assert once == twice


def test_an_offline_batch_earns_no_more_than_the_span_its_events_cover() -> None:
    # 500 events one millisecond apart claiming an hour: the span is half a second.
    events = [(T0 + i, 3600.0, 3600.0) for i in range(500)]
    folded = fold_events(NEVER, events, 3600.0)
    assert folded.watched <= ALLOWANCE_SECONDS + 0.5 * RATE


def test_events_clamped_to_the_same_server_instant_earn_only_the_allowance() -> None:
    now = at(0)
    events = [(clamp_event_ms(at(60 * i), now), 60.0 * i, 60.0 * i) for i in range(60)]  # an hour "in the future"
    assert fold_events(NEVER, events, 3600.0).watched == ALLOWANCE_SECONDS


def test_replaying_a_synced_batch_teaches_nothing_new() -> None:
    events = _events((0, 4, 4), (5, 9, 9), (10, 200, 200))
    first = merge_offline(NEVER, events, 600.0)
    stored = Watch(first.watched, first.latest_ms, first.credit)
    again = merge_offline(stored, events, 600.0)
    assert again.watched == first.watched
    assert again.position is None  # nothing newer than what is stored


def test_offline_skip_ahead_is_capped_by_the_time_between_events() -> None:
    folded = fold_events(NEVER, _events((0, 4, 4), (2, 500, 500)), 600.0)
    assert folded.watched == pytest.approx(ALLOWANCE_SECONDS + 2 * RATE)
    assert folded.position == 500


def test_events_older_than_the_stored_progress_only_count_on_their_own() -> None:
    events = _events((0, 30, 30), (5, 35, 35))
    stored = Watch(100.0, events[-1][0] + 60_000, 0.0)
    merged = merge_offline(stored, events, 600.0)
    assert merged.watched == 100.0 and merged.position is None and merged.latest_ms == stored.heard_ms


def test_equal_times_take_the_largest_claim_whatever_the_order() -> None:
    a = fold_events(NEVER, _events((0, 3, 3), (0, 4, 4)), 600.0)
    b = fold_events(NEVER, _events((0, 4, 4), (0, 3, 3)), 600.0)
    assert a == b and a.watched == 4


def test_an_offline_batch_from_before_the_latest_online_heartbeat_still_counts() -> None:
    offline = _events((0, 0, 0), (5, 5, 5), (10, 10, 10), (15, 15, 15))
    online_later = Watch(4.0, offline[-1][0] + 3_600_000, 0.0)  # another device watched a bit an hour later
    merged = merge_offline(online_later, offline, 600.0)
    assert merged.watched == 15
    assert merged.position is None, "the newer online position stays"
    assert merged.latest_ms == online_later.heard_ms


def test_re_sent_batches_with_fabricated_past_spans_do_not_add_up() -> None:
    """Each batch claims a different hour of the past; none is newer than what is stored,
    so each counts only instead of what is there, never on top of it."""
    now = at(10 * 3600)
    stored = Watch(0.0, now, 0.0)
    for hour in range(9):
        batch = [(at(hour * 3600 + 60 * m), 60.0 * (m + 1), 60.0 * m) for m in range(60)]
        merged = merge_offline(stored, batch, 7 * 3600.0)
        stored = Watch(merged.watched, merged.latest_ms, merged.credit)
    assert stored.watched <= ALLOWANCE_SECONDS + 3600 * RATE


def test_single_event_batches_do_not_each_earn_an_allowance() -> None:
    stored = NEVER
    for i in range(100):
        merged = merge_offline(stored, [(at(i / 100), 600.0, 600.0)], 600.0)
        stored = Watch(merged.watched, merged.latest_ms, merged.credit)
    assert stored.watched <= ALLOWANCE_SECONDS + 1 * RATE


def test_an_offline_batch_continues_from_what_is_stored() -> None:
    events = _events((0, 100, 100), (10, 112, 112))
    stored = Watch(100.0, events[0][0] - 5_000, 0.0)
    merged = merge_offline(stored, events, 600.0)
    assert merged.watched == 112 and merged.position == 112
