"""A poll's counts, one per option, from each store that can hold them."""

from __future__ import annotations

from shared_code.domain.polls import counts_list, final_counts, tally_counts


def test_options_nobody_chose_count_zero_in_the_redis_tally() -> None:
    assert counts_list(4, {"0": "3", "2": "1"}) == [3, 0, 1, 0]


def test_a_tally_moved_below_zero_by_a_changed_vote_reads_as_zero() -> None:
    assert counts_list(2, {"0": "-1", "1": "2"}) == [0, 2]


def test_counts_for_options_the_poll_does_not_have_are_ignored() -> None:
    assert counts_list(2, {"0": "1", "5": "9"}) == [1, 0]


def test_a_closed_poll_shows_its_final_counts() -> None:
    assert final_counts(3, [2, 0, 5]) == [2, 0, 5]


def test_a_poll_closed_without_final_counts_shows_zero_for_every_option() -> None:
    assert final_counts(3, None) == [0, 0, 0]


def test_stored_votes_count_per_option_with_zero_for_the_rest() -> None:
    assert tally_counts(3, {1: 4}) == [0, 4, 0]
