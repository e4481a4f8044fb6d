"""Unit ring: pure logic, no services."""

import os

# Unit tests read settings from the environment only for defaults; keep them deterministic.
os.environ.setdefault("LECTERN_ENV", "test")
