"""`GET /api/docs` is the interactive API reference in development: Swagger UI over
/api/openapi.json, every file from the app itself (the npm package the bootstrap installs),
nothing from a CDN, under a Content-Security-Policy that allows only the app's own scripts."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.timeout(60)


async def test_the_reference_page_loads_only_its_own_files(api):
    page = await api.get("docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy.split("script-src", 1)[1].split(";")[0]
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(not s.startswith(("http:", "https:", "//")) for s in sources), sources
    for source in sources:
        asset = await api.get(source)
        assert asset.status_code == 200, source
        assert asset.headers["content-type"].split(";")[0] in ("text/css", "text/javascript"), source
    bundle = await api.get("docs/assets/swagger-ui-bundle.js")
    assert b"SwaggerUIBundle" in bundle.content and len(bundle.content) > 100_000
    init = await api.get("docs/assets/init.js")
    assert "openapi.json" in init.text


@pytest.mark.parametrize("name", ["package.json", "..%2F..%2Fpackage.json", "swagger-ui-bundle.js.map", "index.html"])
async def test_only_the_pages_own_assets_are_served(api, name):
    resp = await api.get(f"docs/assets/{name}")
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("application/problem+json")
