"""API throughput and latency per endpoint, each against the host's own no-op ceiling, in one run.

Starts a local Functions host of its own on a profile's services (timers on, so the
write-behind flush runs during the measurement as it would in production) and a second
one with `LECTERN_CACHE_ENABLED=false` for the uncached lesson read. Seeds a published
course with video lessons, quizzes and enrolled students through the public API, warms
every snapshot and cache entry, then measures one phase at a time with the same load
generator (N concurrent keep-alive workers, fixed duration after a warm-up, fixed seed):

- `noop`: `GET /api/system/noop`, the host's ceiling;
- `heartbeat`: `PUT /api/progress/lessons/{id}`, each (student, lesson) advancing five
  seconds per beat, as a player would;
- `lesson_cached`, `lesson_uncached`: `GET /api/lessons/{id}` on each host;
- `dashboard`: `GET /api/me/dashboard` as enrolled students;
- `quiz_submit`: `POST /api/quizzes/{id}/attempts`, a fresh Idempotency-Key each, spread
  over students x quizzes so that no student reaches a quiz's attempt limit.

    .venv/bin/python -m devstack start --profile bench
    .venv/bin/python bench/api.py --profile bench
    .venv/bin/python bench/api.py --profile bench --only quiz_submit --workers 100   # one phase

`--only` runs the named phases (the no-op always runs too: every ratio is to it) and
skips the host without the cache unless `lesson_uncached` is among them; targets drawn from
a phase that did not run read "not run".

Targets: heartbeat >= 50% of no-op with p99 < 50 ms; cached lesson reads >= 70% of no-op
and >= 5x uncached. Latencies are of served requests only; a phase with more than 0.1% failed
requests (or none at all) fails, every target drawn from it reads "failed" rather than met or
missed, and the script exits non-zero.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from collections.abc import Callable

import aiohttp

from common import MAX_FAILURE_RATE, OUT, Course, Host, Phase, Request, cycling, drive, free_port, profile_environment, seed
from profiling import Profiler

SEED = 20260303
MAX_ATTEMPTS = 100  # the most a quiz allows (QuizCreate.max_attempts)
DURATION = 3600
PHASES = ("noop", "heartbeat", "lesson_cached", "lesson_uncached", "dashboard", "quiz_submit")
PLAN_LENGTH = 20_000


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def heartbeats(base: str, course: Course, rng: random.Random) -> Callable[[], Request]:
    """Beats on random (lesson, student) pairs; each pair's watched time moves on five seconds a beat."""
    pairs = [(lesson, token) for lesson in course.lessons for token in course.students]
    plan = [pairs[rng.randrange(len(pairs))] for _ in range(PLAN_LENGTH)]
    watched: dict[tuple[str, str], float] = {}
    state = {"i": 0}

    def next_request() -> Request:
        lesson, token = pair = plan[state["i"] % len(plan)]
        state["i"] += 1
        # The warm-up beat left every pair at five seconds; staying below the completion
        # threshold keeps every beat the steady-state write rather than a completion.
        w = watched[pair] = min(watched.get(pair, 5.0) + 5.0, DURATION * 0.5)
        return "PUT", f"{base}/progress/lessons/{lesson}", auth(token), {
            "positionSeconds": w, "watchedSeconds": w, "durationSeconds": DURATION,
        }

    return next_request


def lesson_reads(base: str, course: Course, rng: random.Random) -> list[Request]:
    return [
        ("GET", f"{base}/lessons/{rng.choice(course.lessons)}", auth(rng.choice(course.students)), None)
        for _ in range(PLAN_LENGTH)
    ]


def attempts(base: str, course: Course, rng: random.Random) -> Callable[[], Request]:
    """Each (student, quiz) pair at most MAX_ATTEMPTS times, shuffled; the plan ends rather than hit the limit."""
    plan = [(quiz, token) for quiz in course.quizzes for token in course.students] * MAX_ATTEMPTS
    rng.shuffle(plan)
    answers = [[[rng.randrange(4)] for _ in range(3)] for _ in range(64)]
    items = iter(enumerate(plan))

    def next_request() -> Request:
        n, (quiz, token) = next(items)
        headers = {**auth(token), "Idempotency-Key": f"bench-attempt-{n}"}
        return "POST", f"{base}/quizzes/{quiz}/attempts", headers, {"answers": answers[n % len(answers)]}

    return next_request


async def warm(cached: str, course: Course) -> None:
    """One heartbeat per pair, one dashboard per student: every snapshot exists before anything is measured."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as s:
        gate = asyncio.Semaphore(32)

        async def one(method: str, url: str, token: str, body: object, expect: int) -> None:
            async with gate:
                async with s.request(method, url, headers=auth(token), json=body) as resp:
                    if resp.status != expect:
                        raise RuntimeError(f"warm-up {method} {url} answered {resp.status}: {await resp.text()}")

        beat = {"positionSeconds": 5, "watchedSeconds": 5, "durationSeconds": DURATION}
        await asyncio.gather(
            *(one("PUT", f"{cached}/progress/lessons/{lesson}", t, beat, 202) for lesson in course.lessons for t in course.students),
            *(one("GET", f"{cached}/me/dashboard", t, None, 200) for t in course.students),
        )


def flamegraph(directory: Path, phase: str, pid: int | None, args: argparse.Namespace) -> subprocess.Popen:
    """py-spy drawing the host for the phase's warm-up and measured seconds (100 Hz, not pausing it)."""
    directory.mkdir(parents=True, exist_ok=True)
    spy = str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen(
        [spy, "record", "--nonblocking", "--format", "flamegraph", "--rate", "100",
         "--duration", str(int(args.warmup + args.seconds)), "--output", str(directory / f"api-{phase}.svg"), "--pid", str(pid)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def print_row(name: str, s: dict, noop_rps: float | None) -> None:
    ratio = f"{s['rps'] / noop_rps:6.0%}" if noop_rps else "     -"
    cpu = f"{s['hostCpuUsPerRequest']:>8.1f}" if s["hostCpuUsPerRequest"] is not None else "       -"
    p50 = f"{s['p50Ms']:>8.2f}" if s["p50Ms"] is not None else "       -"
    p99 = f"{s['p99Ms']:>8.2f}" if s["p99Ms"] is not None else "       -"
    print(f"{name:<16} {s['rps']:>9.1f} {p50} {p99} {s['requests']:>9} {s['errors']:>7} {s['errorRate']:>7.2%} {cpu} "
          f"{ratio}{'  FAILED' if s['failed'] else ''}", flush=True)


def target(value: float | None, goal: float, phases: list[str], failed: set[str], *, below: bool = False,
           inclusive: bool = False) -> dict:
    """A target's verdict: met or missed on the value, unless a phase it is drawn from failed.
    `below`: the value must be under the goal (at most the goal when `inclusive`)."""
    broken = [name for name in phases if name in failed]
    if value is None:
        within = False
    elif below:
        within = value <= goal if inclusive else value < goal
    else:
        within = value >= goal
    met = not broken and within
    return {"value": value, "target": goal, "met": met, "phases": phases, "failedPhases": broken,
            "comparison": ("<=" if inclusive else "<") if below else ">="}


def verdict(t: dict) -> str:
    if t["failedPhases"]:
        return f"FAILED ({', '.join(t['failedPhases'])} failed)"
    return "met" if t["met"] else "missed"


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="bench", help="devstack profile whose services the hosts use (default bench)")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each phase")
    parser.add_argument("--workers", type=int, default=32, help="concurrent keep-alive connections")
    parser.add_argument("--quiz-workers", type=int, default=100,
                        help="concurrent connections of the quiz_submit phase (its target is set at 100)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--lessons", type=int, default=10)
    parser.add_argument("--quizzes", type=int, default=4)
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--only", default=None, help=f"comma-separated phases to run (of {', '.join(PHASES)}; noop always runs)")
    parser.add_argument("--flamegraph-dir", default=None,
                        help="also draw each measured phase's host as a py-spy flame graph (api-<phase>.svg) here")
    parser.add_argument("--py-spy-dir", default=None, help="record the measured host of each phase with py-spy here")
    args = parser.parse_args()

    started = time.monotonic()
    # The benchmark measures throughput: each of its students beats far faster than a player
    # would, which the per-student heartbeat limit exists to refuse.
    env = {**profile_environment(args.profile), "LECTERN_RATE_HEARTBEATS_PER_MINUTE": "100000000"}
    cached = Host(env, free_port(), OUT / "api.host.log", timers=True)
    uncached = Host({**env, "LECTERN_CACHE_ENABLED": "false"}, free_port(), OUT / "api.uncached.log", timers=False)
    rng = random.Random(args.seed)
    wanted = set(PHASES) if args.only is None else {"noop", *(p.strip() for p in args.only.split(",") if p.strip())}
    unknown = wanted - set(PHASES)
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))} (known: {', '.join(PHASES)})")
    hosts = [cached, uncached] if "lesson_uncached" in wanted else [cached]
    phases: dict[str, Phase] = {}
    profiles: dict[str, str] = {}
    try:
        print(f"… starting hosts on {cached.port} (cache on, timers on)"
              + (f" and {uncached.port} (cache off)" if uncached in hosts else ""), flush=True)
        await asyncio.gather(*(h.start() for h in hosts))
        print(f"… seeding {args.lessons} lessons, {args.quizzes} quizzes, {args.students} students", flush=True)
        course = await seed(cached.base, lessons=args.lessons, students=args.students, quizzes=args.quizzes,
                            max_attempts=MAX_ATTEMPTS, duration_seconds=DURATION, title="API bench")
        print("… warming snapshots and caches", flush=True)
        await warm(cached.base, course)

        plans = [
            ("noop", cycling([("GET", f"{cached.base}/system/noop", {}, None)]), 204, cached),
            ("heartbeat", heartbeats(cached.base, course, rng), 202, cached),
            ("lesson_cached", cycling(lesson_reads(cached.base, course, rng)), 200, cached),
            ("lesson_uncached", cycling(lesson_reads(uncached.base, course, rng)), 200, uncached),
            ("dashboard", cycling([("GET", f"{cached.base}/me/dashboard", auth(t), None) for t in course.students]), 200, cached),
            ("quiz_submit", attempts(cached.base, course, rng), 201, cached),
        ]
        plans = [plan for plan in plans if plan[0] in wanted]
        print(f"… {len(plans)} phases of {args.warmup:g} s warm-up + {args.seconds:g} s, {args.workers} workers", flush=True)
        print(f"{'phase':<16} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} {'errors':>7} {'failed':>7} {'CPU µs':>8} {'/noop':>6}")
        for name, plan, expect, host in plans:
            profiler = Profiler(Path(args.py_spy_dir), f"api-{name}", {"host": [host.pid]}) if args.py_spy_dir else None
            drawing = flamegraph(Path(args.flamegraph_dir), name, host.pid, args) if args.flamegraph_dir else None
            try:
                workers = args.quiz_workers if name == "quiz_submit" else args.workers
                phases[name] = await drive(name, plan, workers=workers, seconds=args.seconds, warmup=args.warmup,
                                           expect=expect, host_pid=host.pid)
            finally:
                if profiler is not None:
                    profiles[name] = profiler.stop()["host"]
                if drawing is not None:
                    drawing.wait(timeout=60)
            print_row(name, phases[name].summary(), phases["noop"].rps if name != "noop" else None)
    finally:
        cached.stop()
        uncached.stop()

    noop_rps = phases["noop"].rps
    summary = {}
    for name, phase in phases.items():
        summary[name] = {**phase.summary(), "ratioToNoop": round(phase.rps / noop_rps, 3) if noop_rps else None}
    ran = set(phases)
    uncached_rps = phases["lesson_uncached"].rps if "lesson_uncached" in ran else None
    cached_over_uncached = (
        round(phases["lesson_cached"].rps / uncached_rps, 2) if uncached_rps and "lesson_cached" in ran else None
    )
    failed = sorted(name for name, phase in phases.items() if phase.failed)

    def figure(phase: str, key: str) -> float | None:
        return summary[phase][key] if phase in summary else None

    targets = {
        "heartbeatOverNoop": target(figure("heartbeat", "ratioToNoop"), 0.6, ["heartbeat", "noop"], set(failed)),
        "heartbeatP99Ms": target(figure("heartbeat", "p99Ms"), 50, ["heartbeat"], set(failed), below=True),
        "cachedOverNoop": target(figure("lesson_cached", "ratioToNoop"), 0.75, ["lesson_cached", "noop"], set(failed)),
        "cachedOverUncached": target(cached_over_uncached, 5, ["lesson_cached", "lesson_uncached"], set(failed)),
        "quizSubmitRps": target(figure("quiz_submit", "rps"), 1000, ["quiz_submit"], set(failed)),
        "quizSubmitP99Ms": target(figure("quiz_submit", "p99Ms"), 100, ["quiz_submit"], set(failed), below=True),
        "quizSubmitCpuUs": target(figure("quiz_submit", "hostCpuUsPerRequest"), 1000, ["quiz_submit"], set(failed),
                                  below=True, inclusive=True),
    }
    # Targets drawn from a phase `--only` left out are neither met nor missed.
    targets = {name: t for name, t in targets.items() if set(t["phases"]) <= ran}
    for name, t in targets.items():
        print(f"{name:<20} {t['value']} (target {t['comparison']} {t['target']}) {verdict(t)}")
    if failed:
        print(f"phases with more than {MAX_FAILURE_RATE:.1%} failed requests (or no requests): {', '.join(failed)}; "
              f"see {OUT}/api.*.log", file=sys.stderr)
    print(f"done in {time.monotonic() - started:.0f} s", flush=True)
    print(json.dumps({
        "benchmark": "api", "seed": args.seed, "workers": args.workers, "quizWorkers": args.quiz_workers,
        "seconds": args.seconds, "phases": summary,
        "cachedOverUncached": cached_over_uncached, "targets": targets, "failedPhases": failed,
        "maxFailureRate": MAX_FAILURE_RATE, "profiles": profiles,
    }))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
