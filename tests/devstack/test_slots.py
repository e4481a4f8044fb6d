"""Test slots (`LECTERN_TEST_SLOT=N`) of one checkout keep their PID files, leases and logs
apart: before, every slot used `.stack/test/`, so a second slot's run in the same checkout
took the first one's PID files for its own and stopped its services."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from devstack import profiles

pytestmark = pytest.mark.unit


def test_each_slot_keeps_its_state_in_a_folder_of_its_own() -> None:
    repo = Path("/checkout")
    unslotted = replace(profiles.PROFILES["test"], state_name="")
    first, second = profiles._slotted(unslotted, 1), profiles._slotted(unslotted, 2)

    assert unslotted.state_dir(repo) == repo / ".stack" / "test"
    assert first.state_dir(repo) == repo / ".stack" / "test-1"
    assert second.state_dir(repo) == repo / ".stack" / "test-2"
    assert first.name == second.name == "test", "a slot is still the test profile"
