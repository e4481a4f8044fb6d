"""docs/BENCHMARKS.md and docs/CAPACITY.md say what bench/results.json says: every measured
figure in them is generated from it, none is typed by hand, and no verdict is written
outside the generated blocks. When this fails, run `.venv/bin/python bench/report.py`."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import report  # noqa: E402 - bench/ is put on sys.path first, as its scripts expect

BENCHMARKS = ROOT / "docs" / "BENCHMARKS.md"
CAPACITY = ROOT / "docs" / "CAPACITY.md"

# A number followed by the unit of something measured.
MEASUREMENT = re.compile(r"(?<![\w.])\d[\d,.]*\s*(?:ms|µs|×|/s|%|KiB|MiB|votes a second|votes/s|req/s|snapshots/s)(?!\w)")
# Design constants and targets the prose names: what a benchmark is set to, not what it measured.
CONSTANTS = ("250 ms", "0.1%", "at most 50%", "target 60%", "target 75%", "target 5×", "20,000 snapshots/s", "5 s", "2 s",
             "10 s", "100 Hz")


@pytest.fixture(scope="module")
def results() -> report.Results:
    return report.Results(json.loads((ROOT / "bench" / "results.json").read_text()))


def prose(doc: str) -> str:
    """The hand-written text: generated blocks, quoted figures and code taken out."""
    doc = re.sub(r"<!-- bench:([\w-]+) -->.*?<!-- /bench:\1 -->", " ", doc, flags=re.S)
    doc = report.FIGURE.sub(" ", doc)
    return re.sub(r"```.*?```", " ", doc, flags=re.S)


def test_the_benchmarks_page_is_what_the_report_makes_of_the_results(results: report.Results):
    doc = BENCHMARKS.read_text()

    assert report.render(results, doc) == doc, "docs/BENCHMARKS.md is out of date: run bench/report.py"


def test_the_capacity_plan_quotes_the_figures_in_the_results(results: report.Results):
    doc = CAPACITY.read_text()

    assert report.render_capacity(results, doc) == doc, "docs/CAPACITY.md is out of date: run bench/report.py"


def test_every_quoted_figure_names_something_measured(results: report.Results):
    for path in (BENCHMARKS, CAPACITY):
        assert report.unknown_figures(results, path.read_text()) == [], path.name


def test_course_analytics_in_the_capacity_plan_is_the_measured_service_p50(results: report.Results):
    row = next(line for line in CAPACITY.read_text().splitlines() if line.startswith("| course analytics"))
    quoted = float(re.search(r"-->([\d.,]+)<!-- /fig --> ms per call", row)[1])

    assert quoted == results.figures("analytics")["p50_ms"]["service"]


def test_the_capacity_plans_measured_column_has_no_hand_typed_figure():
    table = CAPACITY.read_text().split("| figure | measured | source |")[1].split("\n\n")[0]
    for line in table.splitlines()[2:]:
        measured = report.FIGURE.sub("", line.split(" | ")[1])
        assert not re.search(r"(?<![\w.])\d", measured), line  # p50, p99 name a percentile


def test_the_prose_quotes_no_measurement_by_hand():
    for path in (BENCHMARKS, CAPACITY):
        text = prose(path.read_text())
        for constant in CONSTANTS:
            text = text.replace(constant, " ")
        if path == CAPACITY:  # the plan's assumptions and Azure's limits and prices are not measurements
            text = text.split("## What one instance does (measured)")[1].split("## Azure limits used")[0]
        assert MEASUREMENT.findall(text) == [], path.name


def test_no_verdict_is_written_outside_the_generated_blocks():
    text = prose(BENCHMARKS.read_text()).replace("reads **failed**, never met", " ")

    assert re.findall(r"\b(?:met|missed|passes|passed)\b", text) == []
