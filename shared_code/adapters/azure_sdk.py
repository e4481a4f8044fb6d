"""Options and pipelines every Azure SDK client of the app is built with."""

from __future__ import annotations

from typing import Any

from azure.core.pipeline import policies

# The SDK's aiohttp transport trusts the environment by default: on every request it looks
# up proxy variables and reads ~/.netrc in a worker thread. The app talks to its own Azure
# resources directly (no proxy, no netrc), and under load those lookups were the largest
# single cost of an Azure call (about a fifth of a quiz submit's host CPU), so they are off.
CLIENT_OPTIONS: dict[str, Any] = {"use_env_settings": False}


def lean_pipeline(sdk_moniker: str, authentication: Any) -> list[Any]:
    """The policies of an SDK client on a hot path that never retries (the `policies` option
    every client takes), in place of the thirteen it builds by default: the user agent, the
    signature, the response's decoding, and the trace span (kept: with telemetry on, each
    call is a dependency span of its request; with it off the policy returns at once).

    Left out, each of which runs on every call and does nothing the app uses: the client
    request id (a uuid1 a call), custom headers and hooks, proxies (none), redirects (the
    services answer where they are asked), request/response logging (off below WARNING in
    Azure already), and the retry policy of a client that never retries (the outbox does).
    Together they were about a fifth of a Web PubSub push's CPU (docs/BENCHMARKS.md). The
    Table storage client keeps its own: its cost is in its serializer and its shared-key
    signature, and without those policies a write cost the same."""
    return [
        policies.UserAgentPolicy(sdk_moniker=sdk_moniker),
        authentication,
        policies.ContentDecodePolicy(),
        policies.DistributedTracingPolicy(),
    ]
