"""The live-class page: one static HTML file with inline JS, served by the app itself so a
tutor and students can try a class with nothing but a browser and development tokens."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "static" / "live.html"

# The page's own inline script and style, its API on the same origin, and WebSocket
# connections to the Web PubSub service on whatever host negotiate names.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
    "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


@lru_cache(maxsize=1)
def page_html() -> str:
    return PAGE.read_text(encoding="utf-8")
