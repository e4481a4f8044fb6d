"""Every table and store that holds something about a user, in the order an erasure runs.

Adding a table is one entry here (with its export and erase, in a `*_sections.py` module
of its store); docs/privacy.md lists the same entries. The account goes first, so the
user's tokens are refused before anything else is touched (and a failed erasure never
leaves a usable account with half its data gone); the cached account and the open
connections next, so nothing stale keeps acting for them.
"""

from __future__ import annotations

from shared_code.adapters.postgres import privacy as sql
from shared_code.services.privacy import postgres_sections as pg
from shared_code.services.privacy import redis_sections as hot
from shared_code.services.privacy import table_sections as tables
from shared_code.services.privacy.sections import Section

SECTIONS: tuple[Section, ...] = (
    Section("profile", "postgres", pg.rows_of(sql.profile), pg.erase_profile,
            keeps="the row and its id (rows kept below refer to it), its creation time, `erasedAt`"),
    Section("accountCache", "redis", None, hot.erase_account_cache,
            keeps="a short-lived entry that says the account is erased"),
    Section("liveConnections", "webpubsub", None, hot.close_connections),
    Section("enrollments", "postgres", pg.rows_of(sql.enrollments),
            keeps="every row, by id: course counts and what a purchase bought"),
    Section("progress", "postgres", pg.rows_of(sql.progress),
            keeps="every row, by id: lesson and course completion counts"),
    Section("progressPending", "redis", hot.export_pending_progress,
            keeps="heartbeats waiting for the flush, by id (they become `progress` rows)"),
    Section("quizAttempts", "postgres", pg.rows_of(sql.quiz_attempts),
            keeps="every attempt, by id: score distributions and leaderboard points"),
    Section("pollVotes", "postgres", pg.rows_of(sql.poll_votes),
            keeps="every vote, by id: poll tallies"),
    Section("chatMessages", "postgres", pg.rows_of(sql.chat_messages), pg.erase_chat,
            keeps="each message's place in its class's history, with the text `deleted` and no name"),
    Section("moderation", "postgres", pg.rows_of(sql.moderation),
            keeps="mutes and removals, by id: a tutor's decision about a class"),
    Section("purchases", "postgres", pg.rows_of(sql.purchases),
            keeps="every purchase (accounting law), by id; no name is stored on them"),
    Section("certificates", "postgres", pg.rows_of(sql.certificates), pg.erase_certificates),
    Section("privacyExports", "postgres", pg.rows_of(sql.privacy_exports), pg.erase_exports),
    Section("notifications", "postgres", pg.rows_of(sql.notifications), pg.erase_notifications),
    Section("calendarFeed", "postgres", pg.rows_of(sql.calendar_feed), pg.revoke_calendar_feed,
            keeps="the feed's version, moved on so the old URL stops working"),
    Section("idempotencyKeys", "postgres", None, pg.erase_idempotency_keys),
    Section("audit", "tables", tables.export_audit, tables.erase_audit,
            keeps="every row, with `Deleted user` as the actor's name"),
    Section("contentAccess", "tables", tables.export_access, tables.erase_access,
            keeps="every row, by id, without the user agent"),
    Section("attendance", "tables", tables.export_attendance, tables.erase_attendance,
            keeps="every row, by id, with `Deleted user` as the name: minutes present stay right"),
    Section("changes", "tables", tables.export_changes,
            keeps="the change log, by id (it holds no name)"),
    Section("liveHotState", "redis", None, hot.erase_live_state,
            keeps="presence counts and poll tallies; names become `Deleted user`, hands go down, recent chat reads `deleted`"),
    Section("leaderboardNames", "redis", None, hot.erase_board_names,
            keeps="points, by id; the name becomes `Deleted user`"),
    Section("dashboard", "redis", None, hot.erase_dashboard),
)
