"""Flex Consumption serves a Python app one HTTP request per instance unless the deployment
says otherwise; Lectern's deployment says how many, and the number is the one
bench/concurrency.py measured and docs/CAPACITY.md plans with."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.infra import bicep_text

REPO = Path(__file__).resolve().parents[2]
BICEP_DIR = REPO / "infra" / "bicep"


def test_function_app_sets_http_per_instance_concurrency_and_keeps_http_instances_warm() -> None:
    text = (BICEP_DIR / "modules" / "function-app.bicep").read_text()
    assert re.search(r"triggers: \{\s*http: \{\s*perInstanceConcurrency: httpPerInstanceConcurrency\s*\}\s*\}", text)
    assert re.search(r"for group in \(alwaysReadyInstances > 0 \? \['http'\] : \[\]\)", text)
    main = (BICEP_DIR / "main.bicep").read_text()
    assert "httpPerInstanceConcurrency: functionHttpPerInstanceConcurrency" in main


def test_the_default_concurrency_is_the_measured_choice() -> None:
    results = json.loads((REPO / "bench" / "results.json").read_text())
    entry = results["benchmarks"]["concurrency"]
    assert entry["ok"], "the concurrency benchmark failed: its choice cannot set the default"
    chosen = entry["figures"]["chosen"]
    default = bicep_text.parse(BICEP_DIR / "main.bicep").params["functionHttpPerInstanceConcurrency"]
    assert default == str(chosen), f"main.bicep plans with {default}, bench/concurrency.py chose {chosen}: re-derive docs/CAPACITY.md"
    for name in ("main.parameters.json", "main.prod.parameters.json"):
        values = json.loads((BICEP_DIR / name).read_text())["parameters"]
        assert values["functionHttpPerInstanceConcurrency"]["value"] == chosen, name


def test_the_capacity_plan_states_the_concurrency_it_plans_with() -> None:
    text = (REPO / "docs" / "CAPACITY.md").read_text()
    assert "<!-- fig:concurrency.chosen -->" in text
    assert "functionHttpPerInstanceConcurrency" in text
