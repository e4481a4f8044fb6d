"""The benchmark report: measured blocks replace only their own markers, verdicts follow
the issue's targets and never say "met" for a failed, partial or unmeasured run, every figure
says when and at what commit it was measured (and whether its code moved on since), and
profiles are summarised from py-spy's raw stacks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import report  # noqa: E402
from provenance import Staleness  # noqa: E402

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
