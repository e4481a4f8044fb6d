"""The live-class page (development only): static HTML and the script esbuild bundles from
shared_code/static/live.ts on `@lectern/client` (`npm run build`, run by the bootstrap), served
by the app itself so a tutor and students can try a class with nothing but a browser and
development tokens."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from shared_code.adapters.storage_account import StorageAccount
from shared_code.errors import NotFound
from shared_code.settings import Settings, get_settings

STATIC = Path(__file__).resolve().parents[2] / "static"
PAGE = STATIC / "live.html"
BUNDLE = STATIC / "build" / "live.js"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(settings: Settings) -> str:
    """Scripts only from the app (the bundle, no inline script), the API on the same origin,
    WebSockets to the Web PubSub service negotiate names, and the blob endpoint, where the
    browser PUTs uploads and GETs downloads with SAS URLs."""
    blobs = _origin(StorageAccount.from_settings(settings).endpoint("blob"))
    return (
        "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src data:; "
        f"connect-src 'self' ws: wss: {blobs}; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )


# Settings are fixed for the life of the worker process, so the policy is too.
CONTENT_SECURITY_POLICY = content_security_policy(get_settings())


@cache
def page_html() -> str:
    return PAGE.read_text(encoding="utf-8")


def bundle() -> bytes:
    """The page's script; 404 until `npm run build` (the bootstrap runs it) has made it."""
    try:
        return BUNDLE.read_bytes()
    except FileNotFoundError:
        raise NotFound("The live page's script is not built: run `make bootstrap` (npm run build).") from None
