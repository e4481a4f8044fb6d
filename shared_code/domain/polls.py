"""A poll's state as the class sees it: counts by option, whatever the store left out."""

from __future__ import annotations


def counts_list(options: int, counts: dict[str, str]) -> list[int]:
    """Counts by option index, zero for options nobody chose."""
    return [max(0, int(counts.get(str(i), 0))) for i in range(options)]
