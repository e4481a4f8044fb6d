"""Writes the generated parts of docs/BENCHMARKS.md and the plots in docs/bench/ from
bench/results.json.

The document keeps two kinds of text: what people wrote (how each benchmark works, why a
figure lands where it does) and what the last run measured. The measured parts sit between
`<!-- bench:NAME -->` and `<!-- /bench:NAME -->` markers and are replaced on every run;
everything outside the markers is left exactly as written. A block whose markers are
missing is appended at the end, so a new benchmark shows up without editing the page.
A figure quoted in the prose (of this page or of docs/CAPACITY.md) sits between
`<!-- fig:KEY -->` and `<!-- /fig -->` and is rewritten from results.json the same way, so
no figure in either document is typed by hand.

Verdicts are never taken on trust: a target reads "met" only when the benchmark behind it
exited cleanly, the run it comes from had no failures (connect failures, refused votes or
chats, more than 0.1% failed requests) and the figure was measured at all. Every figure
carries the date and commit it was measured at, and is marked stale when its benchmark's
code changed after that commit (or the commit was never recorded).

    .venv/bin/python bench/report.py                 # after bench/run_all.py

The pieces: `report_format.py` (paths, formatting, `Results`), `report_targets.py` (targets
and verdicts), `report_tables.py` (the measurement tables), `report_profiles.py` (profiles
and plots), `report_figures.py` (figures in the prose); this module splices them into the
documents and names what the tests and bench/run_all.py use.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from pathlib import Path

from report_figures import FIGURE, fill_figures, unknown_figures
from report_format import CAPACITY, DOC, RESULTS, ROOT, Results
from report_profiles import block_profiles, embed_profiles, plot_live, profile_section, profile_summary, summarize_profile
from report_tables import block_analytics, block_api, block_flush, block_growth, block_live, block_live_ratios, block_pubsub, block_stores
from report_targets import block_machine, block_provenance, block_targets, block_verdicts, live_target_rows, target_rows, write_cost_rows

__all__ = [
    "FIGURE",
    "Results",
    "block_api",
    "block_growth",
    "block_live",
    "block_machine",
    "block_provenance",
    "block_verdicts",
    "embed_profiles",
    "live_target_rows",
    "write_cost_rows",
    "main",
    "profile_section",
    "profile_summary",
    "render",
    "render_capacity",
    "splice",
    "summarize_profile",
    "target_rows",
    "unknown_figures",
]


# --- the document -----------------------------------------------------------------------------
BLOCKS: dict[str, Callable[[Results], str]] = {
    "machine": block_machine,
    "targets": block_targets,
    "verdicts": block_verdicts,
    "live": block_live,
    "live-ratios": block_live_ratios,
    "live-growth": block_growth,
    "profiles": block_profiles,
    "api": block_api,
    "stores": block_stores,
    "flush": block_flush,
    "analytics": block_analytics,
    "pubsub": block_pubsub,
}


def splice(doc: str, name: str, content: str) -> str:
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    replacement = f"{begin}\n{content.strip()}\n{end}"
    if pattern.search(doc):
        return pattern.sub(lambda _: replacement, doc, count=1)
    return doc.rstrip() + f"\n\n## {name}\n\n{replacement}\n"


def render(results: Results, doc: str) -> str:
    """docs/BENCHMARKS.md: every block, then every figure quoted in the prose."""
    for name, build in BLOCKS.items():
        doc = splice(doc, name, build(results))
    return fill_figures(results, doc)


def render_capacity(results: Results, doc: str) -> str:
    """docs/CAPACITY.md: where its figures come from, and the figures (the plan around them is written by hand)."""
    return fill_figures(results, splice(doc, "provenance", block_provenance(results)))


def main() -> int:
    parser = argparse.ArgumentParser(description="Write docs/BENCHMARKS.md's measured parts and plots.")
    parser.add_argument("--results", default=str(RESULTS))
    parser.add_argument("--doc", default=str(DOC))
    parser.add_argument("--capacity", default=str(CAPACITY))
    args = parser.parse_args()
    results = Results(json.loads(Path(args.results).read_text()))
    written = []
    for path, build in ((Path(args.doc), render), (Path(args.capacity), render_capacity)):
        doc = path.read_text() if path.exists() else "# Benchmarks\n"
        unknown = unknown_figures(results, doc)
        if unknown:
            print(f"{path}: figures not in the results: {', '.join(sorted(set(unknown)))}")
        path.write_text(build(results, doc))
        written.append(str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path))
    plots = plot_live(results)
    print(f"wrote {', '.join(written)}" + (f" and {', '.join('docs/bench/' + p for p in plots)}" if plots else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
