"""`make infra-check` (infra/check.py): every template parses and every parameters file
fits main.bicep, with no Azure login; and the production parameters turn on what a
production deployment needs while the default file stays cheap."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BICEP_DIR = REPO / "infra" / "bicep"


@pytest.fixture(scope="module")
def infra_python() -> str:
    ensure = subprocess.run(["bash", str(REPO / "scripts" / "ensure_checkov.sh")], capture_output=True, text=True, timeout=900)
    assert ensure.returncode == 0, ensure.stderr[-3000:]
    return str(Path(ensure.stdout.strip().splitlines()[-1]).parent / "python")


def _check(infra_python: str, bicep_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([infra_python, str(REPO / "infra" / "check.py"), str(bicep_dir)], capture_output=True, text=True, timeout=300)


def test_templates_parse_and_both_parameter_files_fit_main_bicep(infra_python: str) -> None:
    run = _check(infra_python, BICEP_DIR)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "main.prod.parameters.json" in run.stdout


def test_parameter_lint_refuses_unknown_out_of_range_and_literal_secret_values(infra_python: str, tmp_path: Path) -> None:
    copy = tmp_path / "bicep"
    shutil.copytree(BICEP_DIR, copy)
    prod = copy / "main.prod.parameters.json"
    values = json.loads(prod.read_text())
    values["parameters"]["postgresReplicaCount"] = {"value": 2}
    values["parameters"]["functionMaximumInstanceCount"] = {"value": 5}
    values["parameters"]["postgresSkuTier"] = {"value": "Huge"}
    values["parameters"]["videoSigningKey"] = {"value": "a-real-looking-secret"}
    del values["parameters"]["postgresZoneRedundantHa"]
    prod.write_text(json.dumps(values))
    run = _check(infra_python, copy)
    assert run.returncode == 1
    for finding in ("postgresReplicaCount is not a parameter", "functionMaximumInstanceCount = 5 is below",
                    "postgresSkuTier = 'Huge' is not one of", "videoSigningKey is @secure() but holds a literal",
                    "postgresZoneRedundantHa is not given"):
        assert finding in run.stdout, run.stdout


def test_a_template_that_does_not_parse_fails_the_check(infra_python: str, tmp_path: Path) -> None:
    copy = tmp_path / "bicep"
    shutil.copytree(BICEP_DIR, copy)
    (copy / "modules" / "broken.bicep").write_text("resource x 'Microsoft.Cache/redis@2024-11-01' = {\n  name: \n")
    run = _check(infra_python, copy)
    assert run.returncode == 1 and "broken.bicep: does not parse" in run.stdout, run.stdout


def _values(name: str) -> dict[str, object]:
    return {k: v.get("value") for k, v in json.loads((BICEP_DIR / name).read_text())["parameters"].items()}


def test_production_parameters_turn_on_high_availability_geo_backup_replica_and_zone_redundant_redis() -> None:
    prod = _values("main.prod.parameters.json")
    assert prod["postgresZoneRedundantHa"] is True
    assert prod["postgresGeoRedundantBackup"] is True
    assert prod["postgresReadReplica"] is True
    assert prod["postgresSkuTier"] != "Burstable", "zone-redundant HA is not offered on Burstable"
    assert prod["redisZoneRedundant"] is True


def test_default_parameters_stay_cheap() -> None:
    default = _values("main.parameters.json")
    for name in ("postgresZoneRedundantHa", "postgresGeoRedundantBackup", "postgresReadReplica", "redisZoneRedundant"):
        assert default.get(name, False) is False, f"{name} is on in the default parameters"
