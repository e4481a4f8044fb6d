"""SQL for `polls` and `poll_votes`.

A vote is written only while its poll is open: the insert takes a share lock on the poll
row, and closing takes the row's exclusive lock. The votes of one poll that arrive together
are written by one statement, which takes the one lock. So closing waits for every vote already
being written, and a vote that comes after the close sees the poll closed and writes
nothing. Final counts read after the close are therefore exactly the stored votes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from psycopg.types.json import Jsonb

from shared_code.adapters.postgres.pool import Conn
from shared_code.adapters.postgres.rows import columns, fetch_one


@dataclass(frozen=True)
class PollRow:
    """A `polls` row; its fields are the columns every query here selects."""

    id: uuid.UUID
    class_id: uuid.UUID
    question: str
    options: list[str]
    status: str  # open, closed
    opened_at: datetime
    closed_at: datetime | None
    final_counts: list[int] | None  # set when the poll closes


_COLUMNS = columns(PollRow)


async def insert_poll(conn: Conn, poll_id: str, class_id: str, question: str, options: list[str]) -> PollRow:
    """Raises `psycopg.errors.UniqueViolation` when the class already has an open poll."""
    row = await fetch_one(
        conn, PollRow,
        f"""INSERT INTO polls (id, class_id, question, options) VALUES (%s, %s, %s, %s) RETURNING {_COLUMNS}""",
        (poll_id, class_id, question, Jsonb(options)),
    )
    assert row is not None
    return row


async def get_poll(conn: Conn, class_id: str, poll_id: str) -> PollRow | None:
    return await fetch_one(
        conn, PollRow, f"SELECT {_COLUMNS} FROM polls WHERE id = %s AND class_id = %s", (poll_id, class_id)
    )


async def open_poll_of_class(conn: Conn, class_id: str) -> PollRow | None:
    return await fetch_one(
        conn, PollRow, f"SELECT {_COLUMNS} FROM polls WHERE class_id = %s AND status = 'open'", (class_id,)
    )


@dataclass(frozen=True)
class Vote:
    """One student's vote as Redis versioned it."""

    poll_id: str
    user_id: str
    option: int
    version: int


def _record(rows: str) -> str:
    """The vote statement over `rows` (user_id, option, version): one share lock on the open
    poll, then an upsert that keeps each voter's newest version."""
    return f"""WITH open_poll AS (
               SELECT id FROM polls WHERE id = %(poll)s AND status = 'open' FOR SHARE
           ), written AS (
               INSERT INTO poll_votes (poll_id, user_id, option, version)
               SELECT open_poll.id, v.user_id, v.option, v.version
                 FROM open_poll, {rows} AS v(user_id, option, version)
               ON CONFLICT (poll_id, user_id) DO UPDATE
                   SET option = EXCLUDED.option, version = EXCLUDED.version, voted_at = now()
                 WHERE poll_votes.version < EXCLUDED.version
               RETURNING 1
           )
           SELECT EXISTS (SELECT 1 FROM open_poll) AS open"""


_RECORD_VOTE = _record("(VALUES (%(user)s::uuid, %(option)s::int, %(version)s::bigint))")
_RECORD_VOTES = _record("unnest(%(users)s::uuid[], %(options)s::int[], %(versions)s::bigint[])")


async def record_votes(conn: Conn, poll_id: str, votes: list[Vote]) -> bool:
    """Stores the votes of one poll in one statement; False when the poll is not open
    (closed, or no such poll), and then none is stored.

    A vote carrying an older `version` than the stored one changes nothing: it lost a race
    with the same user's newer vote (also when both are in `votes`: only the newer is sent,
    as one statement may not write a row twice).
    """
    newest: dict[str, Vote] = {}
    for vote in votes:
        if vote.user_id not in newest or newest[vote.user_id].version < vote.version:
            newest[vote.user_id] = vote
    kept = list(newest.values())
    if len(kept) == 1:
        # A lone vote (most of them, unless a class votes at once): scalar parameters cost
        # psycopg a quarter less to send than three one-element arrays.
        vote = kept[0]
        params: dict[str, object] = {"poll": poll_id, "user": vote.user_id, "option": vote.option, "version": vote.version}
        cur = await conn.execute(_RECORD_VOTE, params)
    else:
        params = {
            "poll": poll_id,
            "users": [v.user_id for v in kept],
            "options": [v.option for v in kept],
            "versions": [v.version for v in kept],
        }
        cur = await conn.execute(_RECORD_VOTES, params)
    row = await cur.fetchone()
    return bool(row and row["open"])


async def counts(conn: Conn, poll_id: str) -> dict[int, int]:
    cur = await conn.execute(
        "SELECT option, count(*) AS n FROM poll_votes WHERE poll_id = %s GROUP BY option", (poll_id,)
    )
    return {int(r["option"]): int(r["n"]) for r in await cur.fetchall()}


async def votes(conn: Conn, poll_id: str) -> dict[str, int]:
    cur = await conn.execute("SELECT user_id, option FROM poll_votes WHERE poll_id = %s", (poll_id,))
    return {str(r["user_id"]): int(r["option"]) for r in await cur.fetchall()}


async def user_vote(conn: Conn, poll_id: str, user_id: str) -> int | None:
    cur = await conn.execute("SELECT option FROM poll_votes WHERE poll_id = %s AND user_id = %s", (poll_id, user_id))
    row = await cur.fetchone()
    return int(row["option"]) if row else None


async def close_poll(conn: Conn, poll_id: str) -> PollRow | None:
    """Closes an open poll and stores its final counts, in the caller's transaction.

    Returns the closed poll, or None when it was not open (already closed).
    """
    cur = await conn.execute(
        "UPDATE polls SET status = 'closed', closed_at = now() WHERE id = %s AND status = 'open' RETURNING options",
        (poll_id,),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    # A new statement, so (read committed) it sees every vote that held the share lock.
    tally = await counts(conn, poll_id)
    final = [tally.get(i, 0) for i in range(len(row["options"]))]
    return await fetch_one(
        conn, PollRow, f"UPDATE polls SET final_counts = %s WHERE id = %s RETURNING {_COLUMNS}", (Jsonb(final), poll_id)
    )
