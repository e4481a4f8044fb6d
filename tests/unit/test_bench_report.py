"""The benchmark report: measured blocks replace only their own markers, verdicts follow
the issue's targets and never say "met" for a failed, partial or unmeasured run, every figure
says when and at what commit it was measured (and whether its code moved on since), and
profiles are summarised from py-spy's raw stacks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import report  # noqa: E402 - bench/ is put on sys.path first, as its scripts expect
from provenance import Staleness  # noqa: E402 - bench/ is put on sys.path first, as its scripts expect

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def fresh(name: str, commit: str | None, dirty: list[str] | None) -> Staleness:
    """Every benchmark's code unchanged since it was measured."""
    return Staleness(None)


def live_run(target: str, students: int, **figures) -> dict:
    base = {"target": target, "students": students, "connected": students, "connectFailures": 0, "votesRefused": 0,
            "chatRefused": 0, "messagesLost": 0, "votesCountedExactly": True, "pollOpenedP99Ms": 30.0,
            "cpuUsPerDeliveredMessage": 20.0, "connectStormSeconds": students / 500, "cpuMsPerVote": 1.5, "ok": True}
    return {**base, **figures}


def entry(figures: dict | None, *, ok: bool = True, **extra) -> dict:
    return {"ok": ok, "exitCode": 0 if ok else 1, "seconds": 1, "figures": figures, "commit": COMMIT,
            "measuredAt": "2026-12-01T10:00:00+00:00", **extra}


def results(*runs: dict, live_ok: bool = True, check=fresh, **benchmarks) -> report.Results:
    data = {"startedAt": "2026-12-01T10:00:00+00:00",
            "benchmarks": {"live_class": entry({"runs": list(runs)}, ok=live_ok)}}
    for name, figures in benchmarks.items():
        data["benchmarks"][name] = entry(figures)
    return report.Results(data, check=check)


def rows_by_label(measured: report.Results) -> dict[str, list]:
    return {row[0]: row for row in report.target_rows(measured)}


def test_a_block_replaces_only_what_is_between_its_markers():
    doc = "# Title\n\nWritten by hand.\n\n<!-- bench:api -->\nold figures\n<!-- /bench:api -->\n\nWhy it is so.\n"

    out = report.splice(doc, "api", "| new | figures |")

    assert out == ("# Title\n\nWritten by hand.\n\n<!-- bench:api -->\n| new | figures |\n<!-- /bench:api -->"
                   "\n\nWhy it is so.\n")


def test_a_block_without_markers_is_appended_not_lost():
    out = report.splice("# Title\n\nProse.\n", "stores", "ceiling")

    assert out.startswith("# Title\n\nProse.\n")
    assert out.rstrip().endswith("<!-- bench:stores -->\nceiling\n<!-- /bench:stores -->")


def test_targets_are_met_or_missed_from_the_same_run():
    measured = results(
        live_run("lectern", 1000, pollOpenedP99Ms=40.0, cpuUsPerDeliveredMessage=50.0),
        live_run("peer", 1000, pollOpenedP99Ms=20.0, cpuUsPerDeliveredMessage=40.0),
        live_run("lectern", 5000, pollOpenedP99Ms=600.0),
    )

    rows = {row[0]: row for row in report.live_target_rows(measured)}

    assert rows["`poll.opened` p99 at 1,000 students"][3] == "met"
    assert rows["`poll.opened` p99 at 5,000 students"][3] == "**missed**"
    assert rows["`poll.opened` p99, Lectern / peer, at 1,000"][2:4] == ["2.00×", "**missed**"]
    assert rows["server CPU per delivered message, Lectern / peer, at 1,000"][2:4] == ["1.25×", "met"]


def test_one_lost_message_anywhere_misses_the_zero_loss_target():
    measured = results(live_run("lectern", 100), live_run("lectern", 1000, messagesLost=1))

    rows = {row[0]: row for row in report.live_target_rows(measured)}

    assert rows["messages lost, every class size"][2:4] == ["1", "**missed**"]


def test_growth_compares_each_figure_with_its_ideal_shape():
    measured = results(live_run("lectern", 100), live_run("lectern", 5000, cpuMsPerVote=3.0))

    growth = report.block_growth(measured)
    storm = next(line for line in growth.splitlines() if "| lectern | connect storm |" in line)
    vote = next(line for line in growth.splitlines() if "| lectern | CPU per vote |" in line)

    assert storm.endswith("| 50.0× | 1.00 |")  # linear in class size, as designed
    assert vote.endswith("| 2.0× | 2.00 |")  # should stay flat; it doubled


def test_api_block_shows_each_phase_as_a_share_of_the_no_op():
    measured = results(api={"phases": {
        "noop": {"rps": 8000.0, "p50Ms": 3.0, "p99Ms": 6.0, "ratioToNoop": 1.0, "hostCpuUsPerRequest": 110.0, "errors": 0,
                 "requests": 80000},
        "heartbeat": {"rps": 4000.0, "p50Ms": 7.0, "p99Ms": 15.0, "ratioToNoop": 0.5, "hostCpuUsPerRequest": 240.0,
                      "errors": 0, "requests": 40000},
    }, "cachedOverUncached": 2.5})

    block = report.block_api(measured)

    assert "| `heartbeat` | 4,000 | 7.0 | 15.0 | 50% | 2.5× | 240.0 | 0 |" in block
    assert "**2.50×**" in block


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    path = tmp_path / "host.txt"
    path.write_text(
        "main (/app/devhost/__main__.py:69);handle (/app/shared_code/http.py:116);"
        "execute (/venv/lib/python3.11/site-packages/psycopg/cursor.py:12) 6\n"
        "main (/app/devhost/__main__.py:69);write (/usr/lib/python3.11/asyncio/selector_events.py:9) 3\n"
        "main (/app/devhost/__main__.py:69);handle (/app/shared_code/http.py:120) 1\n"
    )
    return path


def test_a_profile_is_summarised_by_package_of_self_time_and_our_functions_inclusive(recording: Path):
    summary = report.summarize_profile(recording)

    assert summary["samples"] == 10
    assert summary["packages"] == [("psycopg", 0.6), ("asyncio", 0.3), ("shared_code", 0.1)]
    assert summary["functions"] == [("handle (shared_code/http.py)", 0.7)]


def test_profiles_are_kept_in_the_results_so_the_report_needs_no_recordings(recording: Path):
    figures = {"runs": [{"target": "lectern", "students": 1000, "profiles": {"host": str(recording)}}]}

    embedded = report.embed_profiles(figures)
    recording.unlink()

    entry = embedded["runs"][0]["profiles"]["host"]
    assert entry["file"] == str(recording)
    assert report.profile_summary(entry)["samples"] == 10
    assert "10 samples at 100 Hz" in report.profile_section("lectern 1,000, host", entry)


# --- failed and partial runs ------------------------------------------------------------------
def test_a_failed_live_benchmark_never_reads_met_even_with_good_figures():
    measured = results(live_run("lectern", 1000), live_run("peer", 1000), live_run("lectern", 5000), live_ok=False)

    rows = report.live_target_rows(measured)

    assert rows and all(row[3].startswith("**failed**") for row in rows), rows
    assert all("`live_class` failed (exit 1)" in row[3] for row in rows)
    assert report.block_verdicts(measured).startswith("Of 10 targets in `bench/results.json`: 0 met, 0 missed, 10 failed")
    assert all(row[3].startswith("**failed**") for row in report.write_cost_rows(measured))


def test_a_failed_peer_class_fails_only_the_comparisons_drawn_from_it():
    measured = results(
        live_run("lectern", 1000, voteAckP99Ms=30.0), live_run("peer", 1000, voteAckP99Ms=25.0),
        live_run("lectern", 5000, voteAckP99Ms=800.0, cpuMsPerVote=0.5, cpuMsPerConnection=1.0),
        live_run("peer", 5000, voteAckP99Ms=1000.0, cpuMsPerVote=0.6, cpuMsPerConnection=1.0, messagesLost=14, ok=False),
    )

    rows = {row[0]: row for row in report.target_rows(measured)}

    assert rows["vote ack p99, Lectern / peer, at 5,000"][3] == "**failed** (peer 5,000: the run reported failure)"
    assert rows["server CPU per vote, Lectern / peer, at 5,000"][3].startswith("**failed**")
    assert rows["vote ack p99, Lectern / peer, at 1,000"][3] == "**missed**"
    assert rows["messages lost, every class size"][2:4] == ["0", "met"]
    assert rows["vote ack p99 at 5,000 students"][3] == "**missed**"


def test_write_costs_are_ratios_to_the_peer_of_the_same_run_and_two_limits():
    measured = results(
        live_run("lectern", 1000, voteAckP99Ms=30.0, connectStormSeconds=3.0, negotiateP99Ms=150.0),
        live_run("peer", 1000, voteAckP99Ms=25.0, connectStormSeconds=2.5),
        live_run("lectern", 5000, voteAckP99Ms=800.0, cpuMsPerVote=0.5, cpuMsPerConnection=3.0),
        live_run("peer", 5000, voteAckP99Ms=1000.0, cpuMsPerVote=0.6, cpuMsPerConnection=1.0),
    )

    rows = {row[0]: row for row in report.write_cost_rows(measured)}

    assert rows["vote ack p99, Lectern / peer, at 1,000"][2:4] == ["1.20×", "**missed**"]
    assert rows["vote ack p99, Lectern / peer, at 5,000"][2:4] == ["0.80×", "met"]
    assert rows["server CPU per vote, Lectern / peer, at 5,000"][2:4] == ["0.83×", "met"]
    assert rows["server CPU per connection, Lectern / peer, at 5,000"][2:4] == ["3.00×", "**missed**"]
    assert rows["connect storm, Lectern / peer, at 1,000"][2:4] == ["1.20×", "met"]
    assert rows["vote ack p99 at 5,000 students"][2:4] == ["800.0 ms", "**missed**"]
    assert rows["negotiate p99 at 1,000 students"][2:4] == ["150.0 ms", "met"]
    assert "vote ack p99, Lectern / peer, at 2,500" not in rows  # neither side ran at 2,500


def test_connect_failures_fail_the_p99_row_even_when_the_p99_is_fast():
    measured = results(live_run("lectern", 1000, connectFailures=3, pollOpenedP99Ms=10.0))

    row = rows_by_label(measured)["`poll.opened` p99 at 1,000 students"]

    assert row[2] == "10.0 ms"
    assert row[3] == "**failed** (lectern 1,000: 3 connect failures)"


def test_refused_votes_fail_the_live_rows():
    measured = results(live_run("lectern", 1000, votesRefused=12), live_run("peer", 1000))

    rows = rows_by_label(measured)

    assert rows["`poll.opened` p99 at 1,000 students"][3] == "**failed** (lectern 1,000: 12 votes refused)"
    assert rows["votes counted exactly, every class size"][3].startswith("**failed**")
    assert rows["`poll.opened` p99, Lectern / peer, at 1,000"][3].startswith("**failed**")


def test_a_run_that_raised_reads_failed_with_its_error_not_missing():
    measured = results(live_run("lectern", 100), {"target": "lectern", "students": 5000, "error": "TimeoutError: connect",
                                                  "ok": False})

    rows = rows_by_label(measured)

    assert rows["`poll.opened` p99 at 5,000 students"][2:4] == [
        "not measured", "**failed** (lectern 5,000: error: TimeoutError: connect)"]
    assert rows["messages lost, every class size"][3].startswith("**failed**")


def test_a_missing_lost_messages_figure_is_not_measured_not_zero():
    without = live_run("lectern", 2500)
    del without["messagesLost"]
    measured = results(live_run("lectern", 1000), without)

    row = rows_by_label(measured)["messages lost, every class size"]

    assert row[2] == "0; not measured at 2,500"
    assert row[3] == "**not measured**"


def test_a_missing_p99_is_not_measured_rather_than_a_dash():
    measured = results(live_run("lectern", 1000, pollOpenedP99Ms=None))

    assert rows_by_label(measured)["`poll.opened` p99 at 1,000 students"][2:4] == ["not measured", "**not measured**"]


def api_figures(heartbeat_errors: int, heartbeat_p99: float = 5.0) -> dict:
    phase = {"rps": 4000.0, "p50Ms": 2.0, "requests": 100_000, "ratioToNoop": 0.6, "hostCpuUsPerRequest": 200.0}
    return {"phases": {"noop": {**phase, "p99Ms": 4.0, "errors": 0, "ratioToNoop": 1.0},
                       "heartbeat": {**phase, "p99Ms": heartbeat_p99, "errors": heartbeat_errors}},
            "targets": {"heartbeatP99Ms": {"value": heartbeat_p99, "target": 50, "met": True},
                        "heartbeatOverNoop": {"value": 0.6, "target": 0.5, "met": True}}}


def test_more_than_a_tenth_of_a_percent_of_failed_requests_fails_a_fast_row():
    measured = results(api=api_figures(heartbeat_errors=101))  # 0.101% of 100,000

    rows = rows_by_label(measured)
    block = report.block_api(measured)

    assert rows["heartbeat p99"][2] == "5.0 ms"
    assert rows["heartbeat p99"][3] == "**failed** (`heartbeat`: 0.10% of requests failed)"
    assert rows["heartbeat throughput / no-op"][3].startswith("**failed**")
    assert "| `heartbeat` |" in block and "**failed**: 0.10% of requests failed |" in block


def test_a_tenth_of_a_percent_of_failed_requests_still_counts():
    measured = results(api=api_figures(heartbeat_errors=100))  # exactly 0.1%

    assert rows_by_label(measured)["heartbeat p99"][3] == "met"


def test_a_failed_api_benchmark_fails_its_targets_even_if_its_figures_say_met():
    measured = results(api=api_figures(heartbeat_errors=0))
    measured.benchmarks["api"].update(ok=False, exitCode=1)

    assert rows_by_label(measured)["heartbeat p99"][3] == "**failed** (`api` failed (exit 1))"


# --- provenance ------------------------------------------------------------------------------
def test_rows_reused_by_only_carry_the_date_and_commit_they_were_measured_at():
    measured = results(live_run("lectern", 1000), api=api_figures(heartbeat_errors=0))
    measured.data["only"] = ["api"]
    measured.benchmarks["live_class"].update(commit="feedfacecafebeef00000000000000000000000000",
                                             measuredAt="2026-11-20T08:00:00+00:00")

    rows = rows_by_label(measured)

    assert rows["`poll.opened` p99 at 1,000 students"][4] == (
        "2026-11-20 at `feedfaceca`, reused from an earlier run")
    assert rows["heartbeat p99"][4] == f"2026-12-01 at `{COMMIT[:10]}`"
    assert "`live_class` | ok in 1 s; measured 2026-11-20 at `feedfaceca`, reused from an earlier run" in (
        report.block_machine(measured))


def test_figures_from_before_commits_were_recorded_read_unknown_commit_and_stale():
    data = {"startedAt": "2026-11-25T09:40:16+00:00",
            "benchmarks": {"live_class": {"ok": True, "seconds": 1, "figures": {"runs": [live_run("lectern", 1000)]},
                                          "commit": None, "measuredAt": "2026-11-25T09:40:16+00:00"}}}

    measured = report.Results(data)  # the real check, with git

    row = rows_by_label(measured)["`poll.opened` p99 at 1,000 students"]
    assert row[3] == "met · **stale**"
    assert row[4] == "2026-11-25, commit unknown, **stale**"
    assert "measured at an unknown commit" in report.block_machine(measured)


def test_a_benchmark_whose_code_changed_after_its_commit_is_flagged_stale():
    def changed(name: str, commit: str | None, dirty: list[str] | None) -> Staleness:
        return Staleness("bench/live_class.py changed after 0123456789", ("bench/live_class.py",)) \
            if name == "live_class" else Staleness(None)

    measured = results(live_run("lectern", 1000), check=changed, api=api_figures(heartbeat_errors=0))

    rows = rows_by_label(measured)
    assert rows["`poll.opened` p99 at 1,000 students"][3] == "met · **stale**"
    assert rows["`poll.opened` p99 at 1,000 students"][4] == f"2026-12-01 at `{COMMIT[:10]}`, **stale**"
    assert rows["heartbeat p99"][3] == "met"
    assert "**stale**: bench/live_class.py changed after 0123456789" in report.block_live(measured)
    assert "3 of the verdicts rest on stale figures" in report.block_verdicts(measured)  # the live rows measured


def test_the_verdict_summary_counts_failed_and_stale_rows_apart_from_met():
    def changed(name: str, commit: str | None, dirty: list[str] | None) -> Staleness:
        return Staleness("changed") if name == "api" else Staleness(None)

    measured = results(live_run("lectern", 1000, connectFailures=1), check=changed, api=api_figures(heartbeat_errors=0))

    summary = report.block_verdicts(measured)

    assert summary.startswith("Of 7 targets in `bench/results.json`: 2 met, 0 missed, 4 failed, 1 not measured.")
    assert ("Failed: `poll.opened` p99 at 1,000 students; messages lost, every class size; "
            "votes counted exactly, every class size; negotiate p99 at 1,000 students.") in summary
    assert "Not measured: `poll.opened` p99 at 5,000 students." in summary
    assert "2 of the verdicts rest on stale figures" in summary


def test_a_benchmark_killed_before_its_figures_reads_failed_everywhere_it_appears():
    measured = results(api=api_figures(heartbeat_errors=0))
    measured.benchmarks["live_class"] = entry(None, ok=False, exitCode=-9)

    rows = report.live_target_rows(measured)
    assert [row[3] for row in rows] == ["**failed** (`live_class` failed (exit -9); `live_class` left no figures)"] * 2
    assert "**Failed**: `live_class` failed (exit -9); `live_class` left no figures" in report.block_live(measured)
    assert "| `live_class` | **failed**: `live_class` failed (exit -9)" in report.block_machine(measured)
    assert "| `live_class` | **failed**" in report.block_provenance(measured)
