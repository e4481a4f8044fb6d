"""Timer triggers through the local host: schedules, past_due, runOnStartup, retry policies.

The sample app's timers run from the moment the host starts; these tests read what they
recorded (waiting where the schedule has not produced enough yet).
"""

from __future__ import annotations

import time

import pytest

from tests.devhost.conftest import SampleHost

pytestmark = pytest.mark.integration


def test_a_six_field_schedule_fires_on_its_seconds(sample_host: SampleHost):
    """The sample host runs for the whole session and its timer keeps ticking while other
    tests load the machine, so a tick now and then starts late; the schedule shows in the
    first three ticks, and in nearly all of them."""
    ticks = sample_host.wait_for(lambda r: len(r.get("every_second", [])) >= 3 and r["every_second"])
    moments = [t["at"] for t in ticks]
    first = moments[:3]
    # Each fires just after a whole second, one second apart.
    assert all(m - int(m) < 0.3 for m in first), moments
    assert all(0.7 < b - a < 1.3 for a, b in zip(first, first[1:], strict=False)), moments
    on_their_seconds = [m for m in moments if m - int(m) < 0.3]
    assert len(on_their_seconds) >= 0.9 * len(moments), moments
    assert not any(t["past_due"] for t in ticks[:3])


def test_a_timer_that_overruns_its_schedule_runs_late_with_past_due_and_never_overlaps(sample_host: SampleHost):
    # */2 seconds, but each run takes 3.5 s: the occurrence it overran is run late, once.
    runs = sample_host.wait_for(lambda r: len(r.get("slow_timer", [])) >= 2 and r["slow_timer"], timeout=20)
    assert runs[0]["past_due"] is False
    assert runs[1]["past_due"] is True
    for earlier, later in zip(runs, runs[1:], strict=False):
        assert later["started"] >= earlier["ended"]
        # Missed occurrences collapse: the next run starts right after, not a backlog later.
        assert later["started"] - earlier["ended"] < 0.5


def test_run_on_startup_invokes_once_when_the_host_starts(sample_host: SampleHost):
    (run,) = sample_host.wait_for(lambda r: r.get("on_startup"))
    assert run["past_due"] is False
    assert run["at"] - sample_host.started_at < 15


def test_a_fixed_delay_retry_policy_reruns_a_failed_timer(sample_host: SampleHost):
    attempts = sample_host.wait_for(lambda r: len(r.get("flaky_timer", [])) >= 3 and r["flaky_timer"])
    assert [a["retry_count"] for a in attempts] == [0, 1, 2]
    assert all(a["max_retry_count"] == 2 for a in attempts)
    gaps = [b["at"] - a["at"] for a, b in zip(attempts, attempts[1:], strict=False)]
    assert all(0.9 < gap < 2 for gap in gaps), gaps


def test_an_exponential_retry_policy_backs_off_and_stops_at_max_retry_count(sample_host: SampleHost):
    attempts = sample_host.wait_for(lambda r: len(r.get("failing_timer", [])) >= 3 and r["failing_timer"])
    gaps = [b["at"] - a["at"] for a, b in zip(attempts, attempts[1:], strict=False)]
    assert 0.9 < gaps[0] < 1.4 and 1.4 < gaps[1] < 2.0, gaps  # 1 s, then 2 s capped at 1.5 s
    time.sleep(2)  # a fourth attempt would have come by now
    assert len(sample_host.records()["failing_timer"]) == 3
    log = sample_host.log_file.read_text()
    assert "Waiting for `00:00:01.500` before retrying function execution. Next attempt: '2'. Max retry count: '2'." in log
    assert "Reason='Timer fired at " in log


def test_timer_runs_that_finish_quickly_stay_out_of_the_information_log(sample_host: SampleHost):
    # A timer every few seconds would otherwise log two lines per run, burying everything else.
    sample_host.wait_for(lambda r: len(r.get("every_second", [])) >= 3 and len(r.get("slow_timer", [])) >= 1, timeout=20)
    sample_host.wait_for(lambda r: len(r.get("flaky_timer", [])) >= 3)
    time.sleep(0.5)  # the slow run's Executed line follows its record
    log = sample_host.log_file.read_text()
    assert "Functions.every_second" not in log
    assert "Functions.on_startup" not in log
    # Runs that matter still show, each Executed line after its Executing line.
    assert "Executing 'Functions.slow_timer' (Reason='Timer fired at " in log
    assert log.index("Executing 'Functions.slow_timer'") < log.index("Executed 'Functions.slow_timer' (Succeeded")
    assert "Executed 'Functions.flaky_timer' (Failed" in log
    assert "Executed 'Functions.flaky_timer' (Succeeded" in log, "a retry that succeeds is logged"
