"""The quizzes a process keeps for grading attempts in memory: each with its answer key and
the row's version, read once and kept on the context (`ContentCacheState.quiz_keys`). An
attempt's statement writes only while the version holds (`adapters/postgres/quizzes_attempts.py`),
so a copy made stale by an edit in another process costs one reload, never a wrong grade;
an edit in this process forgets the copy at once (`quiz_edits.py`)."""

from __future__ import annotations

from shared_code.adapters.postgres import quizzes_attempts as attempts_sql
from shared_code.adapters.postgres.quizzes_attempts import AnswerKey
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.errors import NotFound
from shared_code.platform import access as access_service
from shared_code.platform import content_cache
from shared_code.platform.access import CourseAccess
from shared_code.platform.content_cache import CoursePrefetch

# Quiz copies kept per process for grading; past this many the memo starts again (a quiz is
# a few kilobytes, and a course's quizzes are few).
KEPT_QUIZZES = 5000


async def answer_key(ctx: AppContext, quiz_id: str, *, fresh: bool = False) -> AnswerKey:
    """The quiz with its answer key and version, from this process's copy unless `fresh`;
    404 when it is gone (and the copy with it)."""
    kept = ctx.content_cache.quiz_keys
    if not fresh and (hit := kept.get(quiz_id)) is not None:
        return hit
    async with ctx.db.connection() as conn:
        loaded = await attempts_sql.answer_key(conn, quiz_id)
    if loaded is None:
        kept.pop(quiz_id, None)
        raise NotFound("No such quiz.")
    if len(kept) >= KEPT_QUIZZES:
        kept.clear()
    kept[quiz_id] = loaded
    return loaded


def forget_quiz(ctx: AppContext, quiz_id: str) -> None:
    """Call after committing an edit or a delete of the quiz: this process grades against
    it again only after reading it again (other processes find out from the version)."""
    ctx.content_cache.quiz_keys.pop(quiz_id, None)


def prefetch_quiz_course(ctx: AppContext, quiz_id: str, user_id: str) -> CoursePrefetch | None:
    """Sends the course cache read of a quiz this process keeps beside the caller's own
    checks, so a warm submit's access check costs no round trip of its own (a quiz's
    course never changes); None for a quiz not read here yet. It reads process memory and
    Redis only, as every prefetch must (`http/callers.py`)."""
    kept = ctx.content_cache.quiz_keys.get(quiz_id)
    if kept is None:
        return None
    return content_cache.prefetch_course(ctx, str(kept.quiz.course_id), user_id)


async def kept_quiz_access(
    ctx: AppContext, principal: Principal, quiz_id: str, *, prefetched: CoursePrefetch | None = None
) -> tuple[AnswerKey, CourseAccess]:
    """`quiz_access` from the process's copy of the quiz (its course never changes), for
    attempts, which check the copy's version when they write."""
    key = await answer_key(ctx, quiz_id)
    try:
        access = await access_service.course_access(ctx, principal, str(key.quiz.course_id), prefetched=prefetched)
    except NotFound:
        raise NotFound("No such quiz.") from None
    return key, access
