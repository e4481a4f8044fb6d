"""The benchmarks' own pass/fail logic: failed requests are counted apart from latencies and
fail a phase above 0.1%; an API target drawn from a failed phase is neither met nor missed;
the broadcast benchmark fails when any member misses any message."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import api  # noqa: E402 - bench/ is put on sys.path first, as its scripts expect
import common  # noqa: E402 - bench/ is put on sys.path first, as its scripts expect
import live_repeats  # noqa: E402 - bench/ is put on sys.path first, as its scripts expect
import pubsub_broadcast  # noqa: E402 - bench/ is put on sys.path first, as its scripts expect


def phase_of(served_ms: list[float], failures: list[tuple[str, float]]) -> common.Phase:
    latencies: list[float] = []
    counts = {"served": 0, "errors": 0}
    errors: dict[str, int] = {}
    for elapsed in served_ms:
        common.record(latencies, counts, errors, None, elapsed)
    for kind, elapsed in failures:
        common.record(latencies, counts, errors, kind, elapsed)
    return common.Phase("heartbeat", counts["served"], counts["errors"], 1.0, latencies, None, errors)


def test_fast_failures_do_not_pull_the_p99_under_its_target():
    # The slowest 2% of served requests are the p99; a hundred fast refusals mixed in would
    # make the p99 a tenth of what the served requests saw.
    phase = phase_of([10.0] * 98 + [100.0] * 2, [("500", 0.5)] * 99 + [("connection", 0.5)])

    summary = phase.summary()

    assert summary["p99Ms"] == 100.0 and summary["p50Ms"] == 10.0
    assert (summary["requests"], summary["errors"], summary["errorRate"]) == (200, 100, 0.5)
    assert summary["errorsByKind"] == {"500": 99, "connection": 1}
    assert summary["failed"] is True


def test_more_than_a_tenth_of_a_percent_of_failures_fails_the_phase():
    assert phase_of([5.0] * 998, [("503", 1.0)] * 2).failed  # 0.2%
    assert not phase_of([5.0] * 999, [("503", 1.0)]).failed  # 0.1%
    assert phase_of([], []).failed  # nothing measured


def test_an_api_target_from_a_failed_phase_is_failed_not_met():
    t = api.target(14.0, 50, ["heartbeat"], {"heartbeat"}, below=True)

    assert t["met"] is False and t["failedPhases"] == ["heartbeat"]
    assert api.verdict(t) == "FAILED (heartbeat failed)"
    assert api.verdict(api.target(14.0, 50, ["heartbeat"], {"quiz_submit"}, below=True)) == "met"
    assert api.verdict(api.target(60.0, 50, ["heartbeat"], set(), below=True)) == "missed"


def broadcast_round(**changes) -> dict:
    base = {"members": 1000, "opened": 1000, "connections_held_after_broadcasts": 1000, "connections_lost": 0,
            "messages": 10, "deliveries": 10_000}
    return {**base, **changes}


def test_a_broadcast_round_that_delivered_everything_passes():
    assert pubsub_broadcast.round_problems(broadcast_round()) == []
    assert pubsub_broadcast.exit_status([broadcast_round(), broadcast_round(members=100, opened=100, deliveries=1000,
                                                                            connections_held_after_broadcasts=100)]) == 0


def test_a_short_delivery_fails_the_benchmark():
    short = broadcast_round(deliveries=9_999)

    assert pubsub_broadcast.round_problems(short) == ["delivered 9999 of 10000 messages"]
    assert pubsub_broadcast.exit_status([broadcast_round(), short]) == 1


def test_members_that_never_connected_count_against_the_deliveries():
    partial = broadcast_round(opened=900, connections_held_after_broadcasts=900, deliveries=9_000)

    assert pubsub_broadcast.round_problems(partial) == ["100 of 1000 members did not connect",
                                                        "delivered 9000 of 10000 messages"]
    assert pubsub_broadcast.exit_status([partial]) == 1


def test_dropped_connections_fail_the_benchmark_and_no_rounds_is_no_pass():
    dropped = broadcast_round(connections_lost=2, connections_held_after_broadcasts=998)

    assert pubsub_broadcast.exit_status([dropped]) == 1
    assert pubsub_broadcast.exit_status([]) == 1


def test_a_cap_whose_p99_breaks_the_bound_neither_wins_nor_sets_the_bar():
    import concurrency  # noqa: PLC0415 - bench/ is on sys.path (above)

    def at(rps: float, p99: float) -> dict:
        return {"heartbeat": {"rps": rps, "p99Ms": p99, "failed": False}}

    # 64 is the fastest but its p99 is past 100 ms: among the others 32 is best, and 16 is
    # within 10% of it.
    results = {1: at(785, 1.7), 4: at(1485, 5.1), 16: at(2139, 12.2), 32: at(2351, 29.1), 64: at(2683, 118.4)}
    assert concurrency.choose(results) == 16
    assert concurrency.choose({64: at(2683, 118.4)}) is None
    assert concurrency.choose({1: at(800, 2.0), 4: at(1500, 5.0)}) == 4


# --- the live class's repetitions -------------------------------------------------------------

def a_class(vote_p99: float, lost: int = 0, *, counted: bool = True, ok: bool = True) -> dict:
    return {"target": "lectern", "students": 1000, "connected": 1000 - lost, "voteAckP99Ms": vote_p99, "messagesLost": lost,
            "lostBreakdown": {"seqGaps": lost, "chat": 0}, "votesCountedExactly": counted,
            "cpuSeconds": {"votes": {"host": vote_p99 / 100}}, "ok": ok}


def test_repeated_classes_report_each_figure_as_the_median_of_them():
    merged = live_repeats.combined([a_class(90.0), a_class(30.0), a_class(45.0)])
    assert merged["voteAckP99Ms"] == 45.0
    assert merged["cpuSeconds"] == {"votes": {"host": 0.45}}
    assert merged["repeats"] == 3 and merged["ok"] is True
    assert merged["target"] == "lectern" and merged["students"] == 1000


def test_a_loss_or_a_miscount_in_any_repetition_is_never_averaged_away():
    merged = live_repeats.combined([a_class(30.0), a_class(31.0, lost=2, ok=False), a_class(32.0, counted=False, ok=False)])
    assert merged["messagesLost"] == 2 and merged["lostBreakdown"]["seqGaps"] == 2
    assert merged["connected"] == 998
    assert merged["votesCountedExactly"] is False
    assert merged["ok"] is False


def test_a_repetition_that_broke_breaks_its_class_size():
    broken = {"target": "lectern", "students": 1000, "error": "TimeoutError: the storm did not end", "ok": False}
    merged = live_repeats.combined([a_class(30.0), broken, a_class(32.0)])
    assert merged["ok"] is False and "error" in merged


def test_one_class_is_reported_as_it_was():
    one = a_class(30.0)
    assert live_repeats.combined([one]) is one


def test_only_a_failed_class_of_lecterns_fails_the_benchmark():
    peer_lost = {**a_class(30.0, lost=14, ok=False), "target": "peer"}
    assert live_repeats.exit_status([a_class(30.0), peer_lost]) == 0
    assert live_repeats.exit_status([a_class(30.0, lost=1, ok=False), {**a_class(30.0), "target": "peer"}]) == 1
    assert live_repeats.exit_status([peer_lost]) == 1  # the peer alone: its classes decide
