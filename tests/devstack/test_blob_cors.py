"""Browsers upload and download with SAS URLs straight to blob storage, so Azurite gets the
same CORS rule the storage account has in Azure (infra/bicep/modules/storage.bicep)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from devstack.services import BLOB_CORS_EXPOSED, BLOB_CORS_HEADERS, BLOB_CORS_METHODS

REPO = Path(__file__).resolve().parents[2]


def _preflight(stack, origin: str) -> httpx.Response:
    blob_endpoint = re.search(r"BlobEndpoint=([^;]+)", stack.storage_connection_string)[1]
    return httpx.options(
        f"{blob_endpoint}/materials/uploads/any.pdf",
        headers={"Origin": origin, "Access-Control-Request-Method": "PUT",
                 "Access-Control-Request-Headers": "x-ms-blob-type,content-type"},
    )


def test_a_browser_on_an_allowed_origin_may_put_an_upload(stack):
    origin = stack.stack.env()["LECTERN_CORS_ALLOWED_ORIGINS"].split(",")[0].strip()
    resp = _preflight(stack, origin)
    assert resp.status_code == 200, resp.text
    assert resp.headers["access-control-allow-origin"] == origin
    assert "PUT" in resp.headers["access-control-allow-methods"]


def test_another_origin_is_refused(stack):
    assert _preflight(stack, "https://elsewhere.example").status_code == 403


def test_the_rule_is_the_one_bicep_gives_the_storage_account():
    bicep = (REPO / "infra" / "bicep" / "modules" / "storage.bicep").read_text()
    rule = bicep[bicep.index("var corsRule = {"):]
    rule = rule[: rule.index("\n}\n")]

    def listed(name: str) -> set[str]:
        block = rule[rule.index(f"{name}: ["): ]
        return set(re.findall(r"'([^']+)'", block[: block.index("]")]))

    assert listed("allowedMethods") == set(BLOB_CORS_METHODS)
    assert listed("allowedHeaders") == set(BLOB_CORS_HEADERS)
    assert listed("exposedHeaders") == set(BLOB_CORS_EXPOSED)
