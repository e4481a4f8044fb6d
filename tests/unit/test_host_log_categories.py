"""host.json quiets the host's per-invocation lines of the functions called per event, per
connection or every few seconds per student, and keeps their own logs: each category it
names must still name a function, or a rename would bring the lines back unnoticed."""

from __future__ import annotations

import json

from tests.support.app_index import REPO, lectern_functions

# Called for every Web PubSub event, for every connection, for every watching student's beat.
HIGH_VOLUME = ("webpubsub_events", "negotiate", "negotiate_personal", "record_progress")


def _levels() -> dict[str, str]:
    return json.loads((REPO / "host.json").read_text())["logging"]["logLevel"]


def test_every_function_category_in_host_json_names_a_function_of_the_app():
    names = {function.name for function in lectern_functions()}
    named = {category.split(".")[1] for category in _levels() if category.startswith("Function.")}
    assert named <= names, sorted(named - names)


def test_the_high_volume_functions_log_their_invocations_only_when_they_fail_and_keep_their_own_logs():
    levels = _levels()
    for name in HIGH_VOLUME:
        assert levels.get(f"Function.{name}") == "Warning", name
        assert levels.get(f"Function.{name}.User") == "Information", name
