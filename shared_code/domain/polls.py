"""A poll's counts as the class sees them: one per option, whichever store they come from.

While a poll is open Redis holds its tally (a hash of option index → count); when Redis
cannot say, the stored votes are counted; a closed poll keeps the final counts written
when it closed. Each reading gives every option a count, zero for options nobody chose.
"""

from __future__ import annotations

from collections.abc import Mapping


def counts_list(options: int, counts: dict[str, str]) -> list[int]:
    """Counts by option index, zero for options nobody chose."""
    return [max(0, int(counts.get(str(i), 0))) for i in range(options)]


def final_counts(options: int, stored: list[int] | None) -> list[int]:
    """A closed poll's counts as written when it closed (none written: nobody voted)."""
    return [int(c) for c in (stored or [0] * options)]


def tally_counts(options: int, tally: Mapping[int, int]) -> list[int]:
    """Counts by option index from the stored votes' tally (option → votes)."""
    return [tally.get(i, 0) for i in range(options)]
