"""Blueprint for the realtime_events area (handlers are added by the issue that owns it)."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()
