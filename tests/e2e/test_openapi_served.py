"""What the running app serves at `/api/openapi.json` is the committed docs/openapi.json:
frontends generate their client from the file, so it must be the contract the app keeps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[2]


async def test_the_served_document_is_the_committed_file(api):
    resp = await api.get("openapi.json")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/json")
    committed = json.loads((REPO / "docs" / "openapi.json").read_text(encoding="utf-8"))
    assert resp.json() == committed
