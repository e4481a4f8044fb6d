"""Blueprint for content: courses, lessons, playback, materials, enrolment (handlers are added by the issue that owns it)."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()
