"""Outside development the app trusts only its token issuer and serves nothing made for
development: with a development secret set, or without a JWKS URL, it refuses to start
(naming the setting); otherwise the development token, no-op and demo routes are not
registered at all, so they answer 404 and the OpenAPI document does not list them.

Each case runs in a process of its own, as the host would: indexing imports the app once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from devstack import processes
from tests.devhost.conftest import free_port

pytestmark = pytest.mark.timeout(90)

REPO = Path(__file__).resolve().parents[2]
JWKS = "https://login.example.test/discovery/v2.0/keys"
DEVELOPMENT_ONLY = {"dev_token": "dev/token", "noop": "system/noop", "live_app": "live/app",
                    "live_app_script": "live/app.js"}

INDEX = """
import json, sys
from pathlib import Path
from devhost.indexing import index_app
from shared_code.openapi import build_document
functions = index_app(Path(sys.argv[1]))
print(json.dumps({"functions": {f.name: f.trigger.get("route") for f in functions},
                  "paths": sorted(build_document()["paths"])}))
"""


def _environment(**settings: str) -> dict[str, str]:
    """The machine's environment without any app setting, plus `settings`."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("LECTERN_", "JWT_", "POSTGRES_", "REDIS_", "WebPubSub", "AzureWebJobs"))}
    return {**base, **settings}


def _index(**settings: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", INDEX, str(REPO)], cwd=REPO, env=_environment(**settings),
                          capture_output=True, text=True, timeout=60)


def test_production_settings_leave_out_every_development_route():
    run = _index(LECTERN_ENV="production", JWT_JWKS_URL=JWKS, JWT_DEV_SECRET="")
    assert run.returncode == 0, run.stderr
    indexed = json.loads(run.stdout.strip().splitlines()[-1])
    assert set(DEVELOPMENT_ONLY) & set(indexed["functions"]) == set()
    assert {"health", "openapi_document", "admin_set_roles"} <= set(indexed["functions"])
    for route in DEVELOPMENT_ONLY.values():
        assert f"/api/{route}" not in indexed["paths"]
    assert "/api/health" in indexed["paths"]


def test_development_settings_keep_them():
    run = _index(LECTERN_ENV="development", JWT_DEV_SECRET="development-secret-development-secret")
    assert run.returncode == 0, run.stderr
    indexed = json.loads(run.stdout.strip().splitlines()[-1])
    assert set(DEVELOPMENT_ONLY) <= set(indexed["functions"])
    assert "/api/dev/token" in indexed["paths"]


@pytest.mark.parametrize("environment", ["production", "staging"])
def test_a_development_secret_outside_development_stops_indexing_with_the_setting_named(environment):
    run = _index(LECTERN_ENV=environment, JWT_JWKS_URL=JWKS, JWT_DEV_SECRET="a-secret-that-mints-tokens-for-anyone")
    assert run.returncode != 0
    assert "JWT_DEV_SECRET" in run.stderr and f"LECTERN_ENV='{environment}'" in run.stderr, run.stderr


def test_no_jwks_url_outside_development_stops_indexing_with_the_setting_named():
    run = _index(LECTERN_ENV="production", JWT_DEV_SECRET="")
    assert run.returncode != 0
    assert "JWT_JWKS_URL" in run.stderr and "JWT_DEV_SECRET" not in run.stderr, run.stderr


def test_the_local_host_refuses_to_start_with_production_settings_that_trust_development_tokens():
    # The sample local settings carry a development secret; LECTERN_ENV from the
    # environment wins over them, as it would in any deployment.
    host = subprocess.run(
        [sys.executable, "-m", "devhost", "--app-dir", str(REPO), "--port", str(free_port()),
         "--no-timers", "--no-queues"],
        cwd=REPO, env=_environment(LECTERN_ENV="production"), capture_output=True, text=True, timeout=60,
    )
    assert host.returncode == 1
    assert "Host failed to start" in host.stderr and "JWT_DEV_SECRET" in host.stderr, host.stderr


def test_a_production_host_answers_404_for_development_routes(tmp_path):
    port = free_port()
    log = tmp_path / "host.log"
    process = processes.spawn(
        [sys.executable, "-m", "devhost", "--app-dir", str(REPO), "--port", str(port), "--no-timers", "--no-queues"],
        log_file=log, pid_file=None, cwd=REPO,
        env=_environment(LECTERN_ENV="production", JWT_JWKS_URL=JWKS, JWT_DEV_SECRET=""),
    )
    base = f"http://127.0.0.1:{port}/api"
    try:
        # Polled at a path nothing serves: answered without touching any store.
        up = processes.wait_until(lambda: processes.http_status(f"{base}/nothing-here", timeout=1) == 404, 30)
        assert up, processes.log_tail(log)
        for route in DEVELOPMENT_ONLY.values():
            for method in ("GET", "POST"):
                resp = httpx.request(method, f"{base}/{route}", json={"name": "x", "roles": ["admin"]}, timeout=10)
                assert resp.status_code == 404, (method, route, resp.status_code)
                assert resp.headers["content-type"].startswith("application/problem+json")
    finally:
        processes.terminate(process.pid)
