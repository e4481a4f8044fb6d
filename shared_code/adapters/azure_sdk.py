"""Options every Azure SDK client of the app is built with."""

from __future__ import annotations

from typing import Any

# The SDK's aiohttp transport trusts the environment by default: on every request it looks
# up proxy variables and reads ~/.netrc in a worker thread. The app talks to its own Azure
# resources directly (no proxy, no netrc), and under load those lookups were the largest
# single cost of an Azure call (about a fifth of a quiz submit's host CPU), so they are off.
CLIENT_OPTIONS: dict[str, Any] = {"use_env_settings": False}
