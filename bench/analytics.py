"""Course analytics at scale: 100,000 students x 50 lessons in one course.

Builds its own database (`lectern_bench_analytics`, migrated) and loads it with COPY: the
students, one course with 50 video lessons and 10 quizzes, every student enrolled, a
progress row for every (student, lesson) (5,000,000 rows, completion falling off along
the course like a real funnel), one to three attempts at most quizzes (about 1.2 million),
and 20 live classes. A few other courses share the tables so the queries must find their
course rather than read everything. Then it runs the analytics queries several times and
prints their p50, and the whole `GET /api/courses/{id}/analytics` service call
(attendance included, read from the storage emulator's attendance table).

    .venv/bin/python bench/analytics.py                 # loads (about two minutes), 2 warm-up runs, 7 measured
    .venv/bin/python bench/analytics.py --reuse         # skip the load when the database is there

Uses Redis db 12 for the access check's cache and the bench profile's Azurite for the
attendance log (`--storage` to point elsewhere).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import scratch_database  # noqa: E402

from devstack.profiles import PROFILES  # noqa: E402

from shared_code.adapters.postgres import analytics as analytics_sql  # noqa: E402
from shared_code.auth import Principal  # noqa: E402
from shared_code.bootstrap import build_context  # noqa: E402
from shared_code.context import AppContext  # noqa: E402
from shared_code.services.progress import analytics  # noqa: E402
from shared_code.settings import Settings  # noqa: E402

SEED = 20260304
DATABASE = "lectern_bench_analytics"
STUDENTS = 100_000
LESSONS = 50
QUIZZES = 10
CLASSES = 20
OTHER_COURSES = 5
OTHER_STUDENTS = 20_000


def _id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def load(admin_url: str) -> tuple[str, str, str]:
    """Creates and fills the database; returns (url, course id, tutor id)."""
    url = scratch_database(admin_url, DATABASE)
    rng = random.Random(SEED)
    tutor = _id(rng)
    students = [_id(rng) for _ in range(STUDENTS)]
    courses = [_id(rng) for _ in range(1 + OTHER_COURSES)]
    course = courses[0]
    lessons = {c: [_id(rng) for _ in range(LESSONS if c == course else 10)] for c in courses}
    quizzes = [_id(rng) for _ in range(QUIZZES)]
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        with conn.cursor().copy("COPY users (id, name, roles) FROM STDIN") as copy:
            copy.write_row((tutor, "bench tutor", ["tutor"]))
            for i, s in enumerate(students):
                copy.write_row((s, f"student {i}", ["student"]))
        with conn.cursor().copy("COPY courses (id, owner_id, title, published) FROM STDIN") as copy:
            for i, c in enumerate(courses):
                copy.write_row((c, tutor, f"course {i}", True))
        with conn.cursor().copy("COPY lessons (id, course_id, title, kind, duration_seconds, position) FROM STDIN") as copy:
            for c, ids in lessons.items():
                for i, lid in enumerate(ids):
                    copy.write_row((lid, c, f"lesson {i}", "video", 600, i))
        with conn.cursor().copy("COPY enrollments (course_id, user_id, source) FROM STDIN") as copy:
            for s in students:
                copy.write_row((course, s, "self"))
            for c in courses[1:]:
                for s in students[:OTHER_STUDENTS]:
                    copy.write_row((c, s, "self"))
        print(f"  users, courses, lessons, enrolments: {time.perf_counter() - started:.1f}s", flush=True)

        # Every student has a row for every lesson; how far they got falls off along the course.
        with conn.cursor().copy(
            "COPY video_progress (user_id, lesson_id, course_id, position_seconds, watched_seconds, duration_seconds,"
            " completed, completed_at, updated_at) FROM STDIN"
        ) as copy:
            for s in students:
                reached = min(LESSONS, int(rng.expovariate(1 / 30)))  # lessons completed before dropping off
                for i, lid in enumerate(lessons[course]):
                    done = i < reached
                    watched = 600.0 if done else (rng.uniform(0, 500) if i == reached else 0.0)
                    at = "2026-02-01 00:00:00+00"
                    copy.write_row((s, lid, course, watched, watched, 600.0, done, at if done else None, at))
            for c in courses[1:]:
                for s in students[:OTHER_STUDENTS]:
                    for lid in lessons[c]:
                        copy.write_row((s, lid, c, 60.0, 60.0, 600.0, False, None, "2026-02-01 00:00:00+00"))
        print(f"  progress rows: {time.perf_counter() - started:.1f}s", flush=True)

        quiz_lesson = lessons[course][-1]
        with conn.cursor().copy(
            "COPY quizzes (id, course_id, lesson_id, title, questions, max_score, max_attempts) FROM STDIN"
        ) as copy:
            for i, q in enumerate(quizzes):
                copy.write_row((q, course, quiz_lesson, f"quiz {i}", "[]", 10, 3))
        with conn.cursor().copy(
            "COPY quiz_attempts (id, quiz_id, course_id, user_id, attempt_no, answers, score, max_score, per_question)"
            " FROM STDIN"
        ) as copy:
            for s in students:
                for q in quizzes:
                    if rng.random() < 0.4:
                        continue
                    for n in range(1, rng.randint(1, 3) + 1):
                        copy.write_row((_id(rng), q, course, s, n, "[]", rng.randint(0, 10), 10, "[]"))
        with conn.cursor().copy("COPY live_classes (id, course_id, tutor_id, title, scheduled_at, status) FROM STDIN") as copy:
            for i in range(CLASSES):
                copy.write_row((_id(rng), course, tutor, f"class {i}", f"2026-01-{i + 1:02d} 10:00:00+00", "ended"))
        print(f"  quizzes, attempts, classes: {time.perf_counter() - started:.1f}s", flush=True)
        # COPY bypasses the statements that keep the funnel counters and each student's best
        # score per quiz: derive them once, as the migrations do for existing data.
        conn.execute(
            """INSERT INTO quiz_best (quiz_id, user_id, course_id, best, attempts)
               SELECT quiz_id, user_id, course_id, max(score), count(*) FROM quiz_attempts
                GROUP BY quiz_id, user_id, course_id"""
        )
        for c in courses:
            conn.execute(
                """INSERT INTO lesson_progress_stats (lesson_id, course_id, started, completed)
                   SELECT lesson_id, course_id, count(*), count(*) FILTER (WHERE completed)
                     FROM video_progress WHERE course_id = %s GROUP BY lesson_id, course_id""",
                (c,),
            )
        conn.execute("VACUUM ANALYZE")
        print(f"  counters, vacuum analyze: {time.perf_counter() - started:.1f}s", flush=True)
    return url, course, tutor


def find(url: str) -> tuple[str, str]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT c.id, c.owner_id FROM courses c JOIN lessons l ON l.course_id = c.id"
            " GROUP BY c.id HAVING count(*) = %s LIMIT 1",
            (LESSONS,),
        ).fetchone()
    assert row, "no bench course found; run without --reuse"
    return str(row[0]), str(row[1])


def p50(values: list[float]) -> float:
    return statistics.median(values)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--storage", default=PROFILES["bench"].storage_connection_string)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2, help="runs before the measured ones (caches fill)")
    parser.add_argument("--reuse", action="store_true", help="use the database a previous run loaded")
    args = parser.parse_args()

    url = psycopg.conninfo.make_conninfo(args.postgres, dbname=DATABASE)
    if args.reuse:
        course, tutor = find(url)
    else:
        print(f"loading {DATABASE} ...", flush=True)
        started = time.perf_counter()
        url, course, tutor = load(args.postgres)
        print(f"loaded in {time.perf_counter() - started:.1f}s", flush=True)
    with psycopg.connect(url) as conn:
        counts = {t: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()[0]
                  for t in ("enrollments", "video_progress", "quiz_attempts", "quiz_best")}
        plan = conn.execute(
            "EXPLAIN (ANALYZE, FORMAT JSON) SELECT quiz_id, best, count(*) FROM quiz_best"
            " WHERE course_id = %s GROUP BY quiz_id, best",
            (course,),
        ).fetchone()[0][0]["Plan"]
    print(f"rows: {counts}")

    def scan_of(node: dict) -> str:
        while node.get("Plans"):
            node = node["Plans"][0]
        return f"{node['Node Type']} on {node.get('Index Name') or node.get('Relation Name')}"

    print(f"score distribution plan: {plan['Node Type']} over {scan_of(plan)}")

    settings = Settings(
        environment="test", postgres_url=url, redis_url=args.redis, storage_connection_string=args.storage,
        webpubsub_connection_string="Endpoint=http://127.0.0.1;Port=1;AccessKey=YmVuY2g=;Version=1.0;",
    )
    ctx = await build_context(settings)
    timings: dict[str, list[float]] = {"funnel": [], "funnel_counted": [], "scores": [], "enrolled": [], "service": []}
    try:
        await ctx.redis.flushdb()
        owner = Principal(user_id=tutor, name="bench tutor", roles=frozenset({"tutor"}))
        for run in range(-args.warmup, args.runs):
            async with ctx.db.connection() as conn:
                for name, query in (
                    ("funnel", analytics_sql.lesson_funnel),
                    ("funnel_counted", analytics_sql.lesson_funnel_counted),
                    ("scores", analytics_sql.score_counts),
                    ("enrolled", analytics_sql.enrolled_students),
                ):
                    t = time.perf_counter()
                    await query(conn, course)
                    timings[name].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            report = await analytics.course_analytics(ctx, owner, course)
            timings["service"].append((time.perf_counter() - t) * 1000)
            label = f"run {run + 1}" if run >= 0 else "warm-up"
            print(f"{label}: " + ", ".join(f"{k} {v[-1]:.0f} ms" for k, v in timings.items()), flush=True)
            if run < 0:
                for v in timings.values():
                    v.pop()
        async with ctx.db.connection() as conn:
            kept = await analytics_sql.lesson_funnel(conn, course)
            counted = await analytics_sql.lesson_funnel_counted(conn, course)
        assert [(r["started"], r["completed"]) for r in kept] == [(r["started"], r["completed"]) for r in counted]
        assert len(report.lessons) == LESSONS and report.enrolled_students == STUDENTS
        assert report.lessons[0].started == STUDENTS and len(report.quizzes) == QUIZZES
        assert len(report.classes) == CLASSES
    finally:
        await ctx.redis.flushdb()
        await ctx.close()
    summary = {k: round(p50(v), 1) for k, v in timings.items()}
    print("p50: " + ", ".join(f"{k} {v} ms" for k, v in summary.items()))
    print(json.dumps({"bench": "analytics", "students": STUDENTS, "lessons": LESSONS, "rows": counts,
                      "runs": args.runs, "p50_ms": summary,
                      "min_ms": {k: round(min(v), 1) for k, v in timings.items()}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
