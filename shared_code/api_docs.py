"""The interactive API reference at `GET /api/docs` (development only): Swagger UI over
`/api/openapi.json`, served from the `swagger-ui-dist` npm package the bootstrap installs
(`npm ci`), never from a CDN, so it works offline and under a strict Content-Security-Policy
(no inline script: the page's own start-up script is an asset too)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from shared_code.errors import NotFound

REPO = Path(__file__).resolve().parents[1]
SWAGGER_UI = REPO / "node_modules" / "swagger-ui-dist"

# Only these files are served, whatever the path asks for.
ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "init.js": "text/javascript",
}

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Lectern API reference</title>
  <link rel="stylesheet" href="docs/assets/swagger-ui.css">
</head>
<body>
  <div id="reference"></div>
  <script src="docs/assets/swagger-ui-bundle.js"></script>
  <script src="docs/assets/init.js"></script>
</body>
</html>
"""

# Relative to the page (…/api/docs), so it works under any host and route prefix.
INIT = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: new URL("openapi.json", window.location.href).toString(),
    dom_id: "#reference",
    deepLinking: true,
    persistAuthorization: true,
  });
});
"""


def page_html() -> str:
    return PAGE


@cache
def _read(name: str) -> bytes:
    return (SWAGGER_UI / name).read_bytes()


def asset(name: str) -> tuple[bytes, str]:
    """One of the page's files and its media type; 404 for any other name, or when the npm
    package is not installed (run `make bootstrap`)."""
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFound("No such asset.")
    if name == "init.js":
        return INIT.encode(), media_type
    try:
        return _read(name), media_type
    except FileNotFoundError:
        raise NotFound("The API reference's assets are not installed; run `make bootstrap`.") from None
