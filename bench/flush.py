"""Write-behind flush throughput: dirty heartbeat snapshots per second into PostgreSQL.

Builds its own database (`lectern_bench_flush`, migrated, filled with COPY: students, a
course, lessons, enrolments) and uses its own Redis database (db 11, emptied first), so
it disturbs nothing else. Each round records one heartbeat per (student, lesson) through
the real heartbeat script (so every snapshot is dirty), then times
`services.progress.watch.flush_dirty`, the function the timer calls. Round 1 inserts rows;
later rounds update them (the ON CONFLICT path with GREATEST).

    .venv/bin/python bench/flush.py                      # 2,000 students x 50 lessons = 100,000 snapshots
    .venv/bin/python bench/flush.py --students 400 --rounds 2

Target: >= 20,000 snapshots/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import scratch_database  # noqa: E402

from shared_code.adapters.redis import progress as progress_redis  # noqa: E402
from shared_code.bootstrap import build_context  # noqa: E402
from shared_code.context import AppContext  # noqa: E402
from shared_code.services.progress import watch as progress  # noqa: E402
from shared_code.settings import Settings  # noqa: E402

SEED = 20260302
DATABASE = "lectern_bench_flush"
REDIS_DB = 11


def prepare_database(admin_url: str, students: int, lessons: int) -> tuple[str, list[str], list[str], str]:
    """A fresh database with the data the snapshots refer to: (url, student ids, lesson ids, course id)."""
    url = scratch_database(admin_url, DATABASE)
    rng = random.Random(SEED)
    tutor = str(uuid.UUID(int=rng.getrandbits(128)))
    course = str(uuid.UUID(int=rng.getrandbits(128)))
    student_ids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(students)]
    lesson_ids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(lessons)]
    with psycopg.connect(url, autocommit=True) as conn:
        with conn.cursor().copy("COPY users (id, name, roles) FROM STDIN") as copy:
            copy.write_row((tutor, "bench tutor", ["tutor"]))
            for i, sid in enumerate(student_ids):
                copy.write_row((sid, f"student {i}", ["student"]))
        conn.execute(
            "INSERT INTO courses (id, owner_id, title, published) VALUES (%s, %s, 'flush bench', true)", (course, tutor)
        )
        with conn.cursor().copy("COPY lessons (id, course_id, title, kind, duration_seconds, position) FROM STDIN") as copy:
            for i, lid in enumerate(lesson_ids):
                copy.write_row((lid, course, f"lesson {i}", "video", 3600, i))
        with conn.cursor().copy("COPY enrollments (course_id, user_id, source) FROM STDIN") as copy:
            for sid in student_ids:
                copy.write_row((course, sid, "admin"))
        conn.execute("VACUUM ANALYZE")
    return url, student_ids, lesson_ids, course


async def dirty_all(ctx: AppContext, students: list[str], lessons: list[str], course: str, watched: float) -> float:
    """One heartbeat per (student, lesson) through the heartbeat script; seconds it took."""
    store = ctx.progress_store
    now_ms = int(time.time() * 1000)
    pairs = [(s, lesson) for s in students for lesson in lessons]
    started = time.perf_counter()
    gate = asyncio.Semaphore(150)

    async def one(student: str, lesson: str) -> None:
        async with gate:
            await store.record(
                user_id=student, lesson_id=lesson, course_id=course, now_ms=now_ms, position=watched,
                watched=watched, duration=3600, client_ms=None, rate=progress.RATE,
                allowance=progress.ALLOWANCE_SECONDS, gap_limit=progress.GAP_LIMIT_SECONDS, threshold=0.9,
                baseline=progress_redis.Baseline(watched - 1, now_ms - 60_000, False),
            )

    for start in range(0, len(pairs), 10_000):
        await asyncio.gather(*(one(s, lesson) for s, lesson in pairs[start : start + 10_000]))
    return time.perf_counter() - started


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default=f"redis://127.0.0.1:6379/{REDIS_DB}")
    parser.add_argument("--students", type=int, default=2000)
    parser.add_argument("--lessons", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=5000, help="LECTERN_FLUSH_BATCH_SIZE")
    args = parser.parse_args()

    print(f"preparing {DATABASE}: {args.students} students x {args.lessons} lessons ...", flush=True)
    url, students, lessons, course = prepare_database(args.postgres, args.students, args.lessons)
    settings = Settings(
        environment="test", postgres_url=url, redis_url=args.redis, postgres_pool_max=10, flush_batch_size=args.batch,
        webpubsub_connection_string="Endpoint=http://127.0.0.1;Port=1;AccessKey=YmVuY2g=;Version=1.0;",
    )
    ctx = await build_context(settings)
    results = []
    try:
        await ctx.redis.flushdb()
        for round_no in range(1, args.rounds + 1):
            seeding = await dirty_all(ctx, students, lessons, course, watched=10.0 * round_no)
            dirty = await progress.dirty_snapshots(ctx)
            started = time.perf_counter()
            report = await progress.flush_dirty(ctx, time_budget=600)
            seconds = time.perf_counter() - started
            assert report.snapshots == dirty and await progress.dirty_snapshots(ctx) == 0
            rate = report.snapshots / seconds
            kind = "insert" if round_no == 1 else "update"
            results.append({"round": round_no, "kind": kind, "snapshots": report.snapshots, "batches": report.batches,
                            "seconds": round(seconds, 3), "per_second": round(rate)})
            print(f"round {round_no} ({kind}): seeded {dirty} dirty snapshots in {seeding:.1f}s; "
                  f"flushed {report.snapshots} in {report.batches} batches, {seconds:.2f}s -> {rate:,.0f} snapshots/s", flush=True)
        async with ctx.db.connection() as conn:
            cur = await conn.execute("SELECT count(*) AS n, min(watched_seconds) AS lo, max(watched_seconds) AS hi FROM video_progress")
            check = await cur.fetchone()
            cur = await conn.execute("SELECT sum(started) AS started FROM lesson_progress_stats")
            counters = await cur.fetchone()
        expected_watched = 10.0 * args.rounds
        assert check["n"] == len(students) * len(lessons) and check["lo"] == check["hi"] == expected_watched, check
        assert counters["started"] == check["n"], "the funnel counters count each row once"
    finally:
        await ctx.redis.flushdb()
        await ctx.close()
    worst = min(r["per_second"] for r in results)
    print(json.dumps({"bench": "flush", "students": args.students, "lessons": args.lessons, "batch": args.batch,
                      "rounds": results, "worst_per_second": worst, "target_per_second": 20000, "met": worst >= 20000}))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
