"""What a privacy section is: one table or store, what it exports of a user and how it
erases them. The registry (`registry.py`) lists them; the service runs them in order.

An exporter streams the user's rows, newest first, at most `limit` of them (the bounded
export asks one more than it keeps, to mark a section cut short; the full export, `None`:
all of them); an eraser returns how many rows or entries it changed and must
be safe to run again, since a repeated erasure runs every eraser again to finish whatever
an earlier one left.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from shared_code.context import AppContext

# What an erased account's name and its messages' words become wherever they are kept.
ERASED_NAME = "Deleted user"
ERASED_TEXT = "deleted"

Store = Literal["postgres", "tables", "redis", "webpubsub"]


@dataclass(frozen=True)
class Subject:
    """The user a section works on, with the partitions their rows can be in, read once
    before anything is erased (courses ever enrolled in or owned, those courses' classes
    and any class they wrote in)."""

    user_id: str
    course_ids: tuple[str, ...] = ()
    class_ids: tuple[str, ...] = ()


Exporter = Callable[[AppContext, Subject, int | None], AsyncIterator[dict[str, Any]]]
Eraser = Callable[[AppContext, Subject], Awaitable[int]]


@dataclass(frozen=True)
class Section:
    """One table or store. `export` None: nothing of the user's own to hand over (a cache
    of what another section exports); `erase` None: nothing personal to remove. `keeps`
    says what erasure leaves and why, for docs/privacy.md."""

    name: str
    store: Store
    export: Exporter | None = None
    erase: Eraser | None = None
    keeps: str = ""
