"""The host's own CORS, from `Host.CORS` in local.settings.json, as Core Tools applies it.

The rule is deliberately small: an app that sets `Access-Control-Allow-Origin` itself owns
CORS for that response, and the host leaves it alone. Otherwise, when the request's
`Origin` is allowed by `Host.CORS` (`*` or a comma-separated list), the host adds the
allow-origin header (and `Access-Control-Allow-Credentials` with `Host.CORSCredentials`).
A preflight (`OPTIONS` with `Access-Control-Request-Method`) that no function accepts is
answered by the host with 204 when the origin is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass

from multidict import CIMultiDict

ALLOW_ORIGIN = "Access-Control-Allow-Origin"


@dataclass(frozen=True)
class HostCors:
    origins: frozenset[str] = frozenset()
    any_origin: bool = False
    credentials: bool = False

    @classmethod
    def parse(cls, setting: str, credentials: bool = False) -> HostCors:
        entries = [o.strip().rstrip("/") for o in setting.split(",") if o.strip()]
        return cls(
            origins=frozenset(o.lower() for o in entries if o != "*"),
            any_origin="*" in entries,
            credentials=credentials,
        )

    @property
    def enabled(self) -> bool:
        return self.any_origin or bool(self.origins)

    def allows(self, origin: str | None) -> bool:
        if not origin:
            return False
        return self.any_origin or origin.rstrip("/").lower() in self.origins

    def _origin_headers(self, origin: str) -> dict[str, str]:
        # With credentials a browser rejects "*", so the origin is echoed back.
        echo = self.credentials or not self.any_origin
        headers = {ALLOW_ORIGIN: origin if echo else "*"}
        if self.credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        return headers

    def decorate(self, headers: CIMultiDict[str], origin: str | None) -> None:
        """Adds the host's CORS headers to a response unless the app already set its own."""
        if not origin or ALLOW_ORIGIN in headers or not self.allows(origin):
            return
        for name, value in self._origin_headers(origin).items():
            headers[name] = value
        if headers[ALLOW_ORIGIN] != "*":
            headers.add("Vary", "Origin")

    def preflight_headers(self, origin: str, method: str, request_headers: str | None) -> dict[str, str]:
        """Headers of the host's own answer to an allowed preflight."""
        headers = self._origin_headers(origin)
        headers["Access-Control-Allow-Methods"] = method
        if request_headers:
            headers["Access-Control-Allow-Headers"] = request_headers
        if headers[ALLOW_ORIGIN] != "*":
            headers["Vary"] = "Origin"
        return headers
