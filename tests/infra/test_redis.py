"""Azure Managed Redis is the default Redis, reached the way the app connects: TLS on port
10000, database 0, a clustering policy under which its multi-key Lua scripts run."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.infra import bicep_text

REPO = Path(__file__).resolve().parents[2]
BICEP_DIR = REPO / "infra" / "bicep"
REDIS = BICEP_DIR / "modules" / "redis.bicep"


def _main_default(name: str) -> str | None:
    return bicep_text.parse(BICEP_DIR / "main.bicep").params[name]


def test_azure_managed_redis_is_the_default_and_the_retiring_tier_a_parameter() -> None:
    assert _main_default("redisKind") == "'managed'"
    text = REDIS.read_text()
    assert re.search(r"^resource managed 'Microsoft\.Cache/redisEnterprise@[\d-]+' = if \(isManaged\)", text, re.M)
    assert re.search(r"^resource managedDatabase 'Microsoft\.Cache/redisEnterprise/databases@[\d-]+' = if \(isManaged\)", text, re.M)
    assert re.search(r"^resource cache 'Microsoft\.Cache/redis@[\d-]+' = if \(!isManaged\)", text, re.M)
    for name in ("main.parameters.json", "main.prod.parameters.json"):
        values = json.loads((BICEP_DIR / name).read_text())["parameters"]
        assert values["redisKind"]["value"] == "managed", name


def test_the_managed_database_is_default_tls_on_port_10000_and_the_url_says_so() -> None:
    text = REDIS.read_text()
    database = text[text.index("resource managedDatabase"):]
    assert "name: 'default'" in database
    assert "clientProtocol: 'Encrypted'" in database
    assert "var managedPort = 10000" in text and "port: managedPort" in database
    assert "minimumTlsVersion: '1.2'" in text
    # rediss:// (TLS), the identity as the user and no password (an Entra token), the
    # resource's port, database 0: the only one Azure Managed Redis has.
    assert "output appUrl string = 'rediss://${appPrincipalId}@${host}:${port}/0'" in text
    assert "REDIS_URL: redis.outputs.appUrl" in (BICEP_DIR / "main.bicep").read_text()


def test_the_default_clustering_policy_runs_multi_key_scripts_unchanged() -> None:
    # The progress and leaderboard scripts touch several keys that share no hash tag; only an
    # unsharded database runs them as the single local Redis does.
    assert _main_default("redisClusteringPolicy") == "'NoCluster'"
    assert "OSSCluster" not in re.sub(r"//.*", "", REDIS.read_text()), "OSSCluster needs a cluster-aware client and a cluster-mode test"
    scripts = [p for p in (REPO / "shared_code" / "adapters" / "redis").glob("*.py") if "register_script" in p.read_text()]
    assert any("KEYS[2]" in p.read_text() for p in scripts), "no multi-key script left: the policy could be revisited"


def test_the_memory_alert_watches_the_namespace_of_the_redis_deployed() -> None:
    text = REDIS.read_text()
    assert "output metricNamespace string = isManaged ? 'Microsoft.Cache/redisEnterprise' : 'Microsoft.Cache/redis'" in text
    assert "redisMetricNamespace: redis.outputs.metricNamespace" in (BICEP_DIR / "main.bicep").read_text()
    assert "namespace: redisMetricNamespace" in (BICEP_DIR / "modules" / "alerts.bicep").read_text()
