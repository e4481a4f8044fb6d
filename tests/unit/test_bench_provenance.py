"""Which code a benchmark's figures were measured on: a figure is stale when its benchmark's
code changed after the recorded commit, was uncommitted when it ran, or no commit was
recorded at all; figures kept by `run_all.py --only` keep the date and commit they had."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import provenance  # noqa: E402 - bench/ is put on sys.path first, as its scripts expect
import run_all  # noqa: E402 - bench/ is put on sys.path first, as its scripts expect


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with two benchmarks and their shared module, one commit."""
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "user.email", "bench@example.invalid")
    git(tmp_path, "config", "user.name", "bench")
    (tmp_path / "bench").mkdir()
    for name in ("live_class.py", "flush.py", "common.py"):
        (tmp_path / "bench" / name).write_text(f"# {name}\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "benchmarks")
    return tmp_path


def commit_change(repo: Path, path: str) -> None:
    (repo / path).write_text((repo / path).read_text() + "# changed\n")
    git(repo, "commit", "-qam", f"change {path}")


def test_figures_measured_at_head_are_fresh(repo: Path):
    measured = git(repo, "rev-parse", "HEAD")

    assert not provenance.staleness("live_class", measured, root=repo).stale


def test_a_benchmark_whose_script_changed_after_its_commit_is_stale(repo: Path):
    measured = git(repo, "rev-parse", "HEAD")
    commit_change(repo, "bench/live_class.py")

    state = provenance.staleness("live_class", measured, root=repo)

    assert state.stale
    assert state.changed == ("bench/live_class.py",)
    assert state.reason == f"bench/live_class.py changed after {measured[:10]}"


def test_another_benchmark_changing_leaves_the_figures_fresh(repo: Path):
    measured = git(repo, "rev-parse", "HEAD")
    commit_change(repo, "bench/flush.py")

    assert not provenance.staleness("live_class", measured, root=repo).stale
    assert provenance.staleness("flush", measured, root=repo).stale


def test_a_change_to_the_shared_load_generator_makes_every_benchmark_stale(repo: Path):
    measured = git(repo, "rev-parse", "HEAD")
    commit_change(repo, "bench/common.py")

    assert provenance.staleness("live_class", measured, root=repo).changed == ("bench/common.py",)
    assert provenance.staleness("flush", measured, root=repo).stale


def test_figures_without_a_recorded_commit_are_stale(repo: Path):
    state = provenance.staleness("live_class", None, root=repo)

    assert state.stale and "unknown commit" in state.reason


def test_a_commit_missing_from_the_history_is_stale_not_fresh(repo: Path):
    state = provenance.staleness("live_class", "0" * 40, root=repo)

    assert state.stale and "not in this history" in state.reason


def test_figures_measured_on_uncommitted_code_are_stale(repo: Path):
    measured = git(repo, "rev-parse", "HEAD")
    (repo / "bench" / "live_class.py").write_text("# edited, not committed\n")

    dirty = provenance.uncommitted(provenance.code_of("live_class"), root=repo)
    state = provenance.staleness("live_class", measured, dirty, root=repo)

    assert dirty == ["bench/live_class.py"]
    assert state.stale and "uncommitted changes to bench/live_class.py" in state.reason


def test_reused_entries_keep_their_date_and_commit_and_old_ones_take_their_runs_start():
    previous = {"startedAt": "2026-11-25T09:40:16+00:00", "benchmarks": {
        "api": {"ok": True, "figures": {}, "commit": "abc", "measuredAt": "2026-12-01T10:00:00+00:00"},
        "flush": {"ok": True, "figures": {}},
    }}

    kept = run_all.reused(previous)

    assert (kept["api"]["commit"], kept["api"]["measuredAt"]) == ("abc", "2026-12-01T10:00:00+00:00")
    assert (kept["flush"]["commit"], kept["flush"]["measuredAt"]) == (None, "2026-11-25T09:40:16+00:00")
