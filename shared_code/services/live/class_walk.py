"""A walk over classes, a page of ids at a time, for the timers that must reach every one.

A timer that read one bounded page (the first 500 running classes, say) would never reach a
class past it: with more classes running than the page holds, the same ones came back each
run and the rest were never swept. The walk goes by id, so each class comes once per run, a
class that starts or ends meanwhile is met or missed harmlessly, and the connection is
held for one page, not while each class is worked on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from shared_code.adapters.postgres import classes as classes_sql
from shared_code.adapters.postgres.pool import Conn
from shared_code.context import AppContext

Page = Callable[[Conn, str, int], Awaitable[list[str]]]

PAGE_SIZE = 500


async def class_ids(ctx: AppContext, page: Page, *, page_size: int = PAGE_SIZE) -> AsyncIterator[str]:
    """Every id `page` gives, page after page, in id order."""
    after = classes_sql.FIRST_ID
    while True:
        async with ctx.db.connection() as conn:
            ids = await page(conn, after, page_size)
        for class_id in ids:
            yield class_id
        if len(ids) < page_size:
            return
        after = ids[-1]
