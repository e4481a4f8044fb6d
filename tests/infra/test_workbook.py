"""The live-class workbook (infra/bicep/modules/workbook.bicep) charts what the app records:
every `lectern.*` metric a tile queries is one shared_code/metrics.py defines, every metric
it defines has a tile, and main.bicep deploys the workbook over the app's Application
Insights. A renamed metric would otherwise leave a chart empty for ever."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared_code import metrics
from tests.infra import bicep_text

pytestmark = pytest.mark.infra

REPO = Path(__file__).resolve().parents[2]
WORKBOOK = REPO / "infra" / "bicep" / "modules" / "workbook.bicep"


def _queries() -> list[str]:
    found = re.findall(r"^\s*query: '(.*)'$", WORKBOOK.read_text(), re.M)
    assert found, "no tile queries found in workbook.bicep"
    return found


def test_every_metric_a_tile_charts_is_one_the_code_records() -> None:
    charted = {name for query in _queries() for name in re.findall(r'"(lectern\.[\w.]+)"', query)}
    assert charted, "the tiles name no lectern metric"
    assert charted - metrics.NAMES == set()


def test_every_metric_the_code_records_has_a_tile() -> None:
    charted = {name for query in _queries() for name in re.findall(r'"(lectern\.[\w.]+)"', query)}
    assert metrics.NAMES - charted == set()


def test_the_class_tile_filters_by_the_workbooks_class_parameter() -> None:
    (connections,) = [q for q in _queries() if metrics.LIVE_CONNECTIONS in q]
    assert "{ClassId}" in connections and "customDimensions.class_id" in connections
    assert "name: 'ClassId'" in WORKBOOK.read_text()


def test_main_deploys_the_workbook_over_the_apps_application_insights() -> None:
    main = bicep_text.parse(REPO / "infra" / "bicep" / "main.bicep")
    (module,) = [m for m in main.modules.values() if m.path == "modules/workbook.bicep"]
    assert module.params["applicationInsightsId"] == "monitoring.outputs.applicationInsightsId"
