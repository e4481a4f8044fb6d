"""Each row type selects columns its table has, and psycopg builds the value from them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from shared_code.adapters.postgres import classes as classes_sql
from shared_code.adapters.postgres.certificates import CertificateRow, IssuedCertificate
from shared_code.adapters.postgres.classes import ClassRow
from shared_code.adapters.postgres.courses import CourseRow, RankedCourse
from shared_code.adapters.postgres.enrollments import EnrollmentRow
from shared_code.adapters.postgres.idempotency import StoredKey
from shared_code.adapters.postgres.lessons import LessonRow
from shared_code.adapters.postgres.materials import MaterialRow
from shared_code.adapters.postgres.notifications import NotificationRow
from shared_code.adapters.postgres.payments import EventRow, HoldRow
from shared_code.adapters.postgres.pending_effects import ParkedEffect
from shared_code.adapters.postgres.polls import PollRow
from shared_code.adapters.postgres.purchases import PurchaseRow
from shared_code.adapters.postgres.quizzes import QuizRow, StoredAttempt
from shared_code.adapters.postgres.rows import columns, fetch_all
from shared_code.adapters.postgres.users import AccountRow, UserRow


@pytest.mark.parametrize(
    ("row_type", "table"),
    [
        (ClassRow, "live_classes"),
        (PollRow, "polls"),
        (PurchaseRow, "purchases"),
        (EventRow, "payment_events"),
        (HoldRow, "payment_holds"),
        (StoredKey, "idempotency_keys"),
        (ParkedEffect, "pending_effects"),
        (EnrollmentRow, "enrollments"),
        (MaterialRow, "materials"),
        (LessonRow, "lessons"),
        (CourseRow, "courses"),
        (RankedCourse, "courses, LATERAL (SELECT 0.5::real AS rank) AS r"),
        (CertificateRow, "certificates"),
        (IssuedCertificate, "certificates, LATERAL (SELECT true AS issued_now) AS i"),
        (NotificationRow, "notifications"),
        (UserRow, "users"),
        (AccountRow, "users"),
        (QuizRow, "quizzes"),
        (StoredAttempt, "quiz_attempts"),
    ],
)
async def test_a_row_type_s_fields_are_its_table_s_columns(ctx, row_type, table):
    async with ctx.db.connection() as conn:
        assert await fetch_all(conn, row_type, f"SELECT {columns(row_type)} FROM {table} LIMIT 0") == []


async def test_a_missing_row_is_none_and_a_found_one_a_frozen_value(ctx):
    async with ctx.db.connection() as conn:
        assert await classes_sql.get_class(conn, str(uuid.uuid4())) is None
        rows = await fetch_all(
            conn, ClassRow,
            f"SELECT {columns(ClassRow)} FROM (VALUES (%s::uuid, %s::uuid, %s::uuid, 'T', %s::timestamptz, 'live', "
            "NULL::timestamptz, NULL::timestamptz, now(), NULL::uuid, NULL::timestamptz)) AS v(" + columns(ClassRow) + ")",
            (uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), datetime(2030, 1, 1, tzinfo=UTC)),
        )
    assert len(rows) == 1 and isinstance(rows[0], ClassRow)
    assert rows[0].status == "live" and rows[0].scheduled_at.year == 2030 and rows[0].ended_at is None
