"""Platform analytics for admins over a range of UTC days (default the last 30, at most 366).

Each figure is one SQL statement over the rows that carry its time:

- active students: distinct students per day with a quiz attempt (`quiz_attempts.created_at`)
  or watch progress (`video_progress.updated_at`: a progress row keeps only its last write,
  so a student who watched the same lesson on two days counts on the later one; the full
  history is the change log in Azure Tables, too costly to scan per request);
- enrolments: enrolments created that day (also those a refund later ended);
- revenue: per provider and currency, the purchases paid in the range, minus what was
  refunded of them (a refund counts against its purchase's payment day), with the part
  under dispute shown apart;
- live minutes: classes that ended in the range after being started, start to end (the
  class's length, not the sum of each student's presence: attendance minutes per student
  are in Azure Tables, per class on `GET /classes/{classId}/attendance`);
- top courses: the ten with the most enrolments in the range (taken-down ones flagged).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from shared_code.adapters.postgres import admin as admin_sql
from shared_code.context import AppContext
from shared_code.errors import FieldError, ValidationFailed
from shared_code.models.admin import (
    ANALYTICS_DEFAULT_DAYS,
    ANALYTICS_MAX_DAYS,
    AnalyticsDay,
    AnalyticsQuery,
    PlatformAnalytics,
    Revenue,
    TopCourse,
)

TOP_COURSES = 10


def day_range(q: AnalyticsQuery, today: date) -> tuple[date, date]:
    """The first and last day asked for, with the defaults filled in (`to` today, `from`
    30 days back from `to`); 400 for a range that is backwards or too long."""
    last = q.to or today
    first = q.from_ or last - timedelta(days=ANALYTICS_DEFAULT_DAYS - 1)
    if first > last:
        raise ValidationFailed(errors=[FieldError("from", "must not be after 'to'")])
    if (last - first).days + 1 > ANALYTICS_MAX_DAYS:
        raise ValidationFailed(errors=[FieldError("from", f"the range is at most {ANALYTICS_MAX_DAYS} days")])
    return first, last


async def platform_analytics(ctx: AppContext, q: AnalyticsQuery, *, today: date | None = None) -> PlatformAnalytics:
    first, last = day_range(q, today or datetime.now(UTC).date())
    start = datetime.combine(first, time.min, tzinfo=UTC)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC)
    async with ctx.db.connection() as conn:
        active = await admin_sql.active_students_per_day(conn, start, end)
        enrolled = await admin_sql.enrollments_per_day(conn, start, end)
        money = await admin_sql.revenue(conn, start, end)
        live = await admin_sql.live_minutes_per_day(conn, start, end)
        top = await admin_sql.top_courses(conn, start, end, TOP_COURSES)
    by_active = {r["day"]: int(r["n"]) for r in active}
    by_enrolled = {r["day"]: int(r["n"]) for r in enrolled}
    by_live = {r["day"]: (int(r["classes"]), float(r["minutes"] or 0)) for r in live}
    days = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        classes, minutes = by_live.get(day, (0, 0.0))
        days.append(AnalyticsDay(day=day, active_students=by_active.get(day, 0), enrollments=by_enrolled.get(day, 0),
                                 live_classes=classes, live_minutes=round(minutes, 1)))
    return PlatformAnalytics(
        from_=first,
        to=last,
        days=days,
        revenue=[
            Revenue(provider=r["provider"], currency=r["currency"], purchases=int(r["purchases"]),
                    gross_cents=int(r["gross_cents"]), refunded_cents=int(r["refunded_cents"]),
                    net_cents=int(r["gross_cents"]) - int(r["refunded_cents"]), disputed_cents=int(r["disputed_cents"]))
            for r in money
        ],
        live_classes=sum(c for c, _ in by_live.values()),
        live_minutes=round(sum(m for _, m in by_live.values()), 1),
        top_courses=[TopCourse(course_id=r["course_id"], title=r["title"], enrollments=int(r["enrollments"]),
                               taken_down=bool(r["taken_down"])) for r in top],
    )
