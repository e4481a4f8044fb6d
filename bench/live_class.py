"""Benchmark: one live class of 100 to 5,000 student WebSocket connections, on Lectern and on
the classic peer (python-socketio with its Redis manager, `bench/peer/server.py`).

For each class size and each target it measures, with the same client workload:

- the connect storm: every student connects at once (on Lectern: negotiate, then connect
  through the local Web PubSub service, whose `connect` event the host's event handler
  answers); its duration and, on Lectern, the p50/p99 latency of `POST .../negotiate`;
- fan-out: p50/p99 from the tutor opening a poll (REST) to each student receiving
  `poll.opened` (several polls, every delivery counted);
- chat fan-out: p50/p99 from a student sending `chat` to each student receiving the
  `chat.message` (several chats from different students);
- a vote storm: every student votes once within one second; every vote must be
  acknowledged, the closed counts must equal the votes acknowledged, and every student
  must hold the final tally;
- messages lost: class messages (by `seq`) a client missed once every student was
  connected, plus `poll.opened` / `poll.closed` / `chat.message` missing at any client;
  gaps during the connect storm are counted apart (`seqGapsDuringStorm`): there a gap can
  be a join race rather than a loss;
- server cost: CPU seconds and RSS of the server processes (Lectern: the Functions host
  and the Web PubSub service, found by the ports they listen on; the
  peer: its processes), per phase, per connection, per delivered message and per vote;
  redis-server's CPU is reported apart (it is shared with anything else on the machine).

Student clients are raw aiohttp WebSockets spread over worker processes: the
`json.webpubsub.azure.v1` subprotocol for Lectern, the Engine.IO 4 / Socket.IO 5 wire
protocol for the peer (answering its pings), so neither side pays for a heavy client.
Bounded: every wait has a timeout and the run stops by itself. Prints its figures and a
final JSON line. The students' worker processes are in `live_students.py`, the two targets
and the server processes they watch in `live_sides.py`; this module runs the classes.

    python bench/live_class.py                                    # Lectern, 1,000 students, bench stack
    python bench/live_class.py --sizes 100,1000,2500,5000 --targets lectern,peer
    python bench/live_class.py --profile test --students 5000     # the test profile's stack
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import sys
import time
import uuid
from typing import Any

import aiohttp

from common import percentile, raise_fd_limit, rounded
from live_repeats import combined, exit_status, run_ok
from profiling import PhaseProfiler
from live_sides import (
    PROFILE_BASE_URLS,
    LecternSide,
    PeerSide,
    ProcessWatch,
    cpu_delta,
    gather_results,
    redis_pid,
    wait_until,
)
from live_students import run_worker


async def run_one(
    args: argparse.Namespace, side: LecternSide | PeerSide, size: int, run_index: int, *, profile: bool = True
) -> dict:
    """One class of `size` students on one target: connect storm, polls, chats, vote storm."""
    rng = random.Random(args.seed + size)
    label = f"{side.name}-{size}"
    students, connect_info = await side.start_run(size, label)
    figures: dict[str, Any] = {"target": side.name, "students": size}
    ctx = mp.get_context("spawn")
    commands = [ctx.Queue() for _ in range(args.workers)]
    results = ctx.Queue()
    procs = [ctx.Process(target=run_worker, args=(i, side.name, commands[i], results), daemon=True)
             for i in range(args.workers)]
    for p in procs:
        p.start()
    server_pids = side.pids()
    watched = dict(server_pids)
    rpid = redis_pid()
    if rpid is not None:
        watched["redis"] = [rpid]
    watch = ProcessWatch(watched)
    watch.start()
    profiler = PhaseProfiler(args.py_spy_dir if profile else None, label, server_pids, phase=args.py_spy_phase,
                             rate=args.py_spy_rate)
    server_roles = list(server_pids)

    # The app's own processes: everything but the local Web PubSub service, which stands in
    # for a managed service (in Azure its CPU is not the app's). The peer is all app.
    app_roles = [r for r in server_roles if r != "pubsub"]

    def server_cpu(delta: dict[str, float]) -> float:
        return sum(delta[r] for r in server_roles)

    def app_cpu(delta: dict[str, float]) -> float:
        return sum(delta[r] for r in app_roles)

    async def mark_all() -> int:
        for q in commands:
            q.put({"kind": "mark"})
        return sum(m["received"] for m in await gather_results(results, "marked", args.workers, args.timeout))

    try:
        await asyncio.sleep(1.0)  # workers import and start
        rss_idle = watch.rss()
        if side.rss_baseline is None:
            side.rss_baseline = {r: rss_idle[r] for r in server_roles}
        profiler.start("storm")
        cpu0 = watch.cpu()
        start_at = time.time() + 0.5
        for i in range(args.workers):
            commands[i].put({"kind": "connect", **connect_info, "startAt": start_at, "offset": i,
                             "students": students[i :: args.workers], "concurrency": args.concurrency})
        connected = await gather_results(results, "connected", args.workers, args.timeout)
        negotiate_ms = [v for r in connected for v in r["negotiateMs"]]
        failures = [f for r in connected for f in r["failures"]]
        done_at = [v for r in connected for v in r["doneAt"]]
        cpu1 = watch.cpu()
        profiler.stop("storm")
        storm = cpu_delta(cpu1, cpu0)
        figures["connected"] = len(done_at)
        figures["connectFailures"] = len(failures)
        figures["connectStormSeconds"] = round(max(done_at) - start_at, 2) if done_at else None
        figures["negotiateP50Ms"] = rounded(percentile(negotiate_ms, 50))
        figures["negotiateP99Ms"] = rounded(percentile(negotiate_ms, 99))
        figures["stormServerCpuSeconds"] = round(server_cpu(storm), 2)
        figures["cpuMsPerConnection"] = round(server_cpu(storm) * 1000 / max(1, len(done_at)), 3)
        figures["appCpuMsPerConnection"] = round(app_cpu(storm) * 1000 / max(1, len(done_at)), 3)
        if failures:
            print("  connect failures (first 3):", failures[:3], flush=True)

        async def presence_is_full() -> bool:
            return await side.presence() >= len(done_at)

        figures["presenceSettled"] = await wait_until(presence_is_full, 30, 0.25)
        await asyncio.sleep(0.5)
        rss_connected = watch.rss()

        # Fan-out: polls from the tutor, then chats from students.
        received0 = await mark_all()
        profiler.start("fanout")
        cpu2 = watch.cpu()
        poll_ids: list[str] = []
        post_times: dict[str, float] = {}
        for round_no in range(args.polls):
            sent = time.time()
            poll_id = await side.open_poll(f"Fan-out {round_no}")
            post_times[poll_id] = sent
            poll_ids.append(poll_id)
            await asyncio.sleep(args.poll_gap)
            await side.close_poll(poll_id)
            await asyncio.sleep(args.poll_gap / 2)
        senders = rng.sample([u for u, _ in students], min(args.chats, len(students)))
        chat_texts: list[str] = []
        chat_sent: dict[str, float] = {}
        chat_refused: list[str] = []
        worker_of = {u: i % args.workers for i, (u, _) in enumerate(students)}
        for k, sender in enumerate(senders):
            text = f"chat {k} {uuid.uuid4().hex[:8]}"
            chat_texts.append(text)
            commands[worker_of[sender]].put({"kind": "chat", "userId": sender, "text": text})
            chatted = (await gather_results(results, "chatted", 1, args.timeout))[0]
            if chatted["sentAt"] is not None:
                chat_sent[text] = chatted["sentAt"]
            if not chatted["ok"]:
                chat_refused.append(str(chatted["reason"]))
            await asyncio.sleep(args.chat_gap)
        await asyncio.sleep(1.0)
        received1 = await mark_all()
        cpu3 = watch.cpu()
        profiler.stop("fanout")
        fanout_cpu = cpu_delta(cpu3, cpu2)
        delivered = received1 - received0
        figures["fanoutMessagesDelivered"] = delivered
        figures["fanoutServerCpuSeconds"] = round(server_cpu(fanout_cpu), 3)
        figures["cpuUsPerDeliveredMessage"] = round(server_cpu(fanout_cpu) * 1e6 / max(1, delivered), 2)
        figures["redisCpuUsPerDeliveredMessage"] = (round(fanout_cpu["redis"] * 1e6 / max(1, delivered), 2)
                                                     if "redis" in fanout_cpu else None)
        figures["chatRefused"] = len(chat_refused)

        # Vote storm: every connected student votes once within the window.
        vote_poll = await side.open_poll("Burst")
        poll_ids.append(vote_poll)
        post_times[vote_poll] = time.time()
        await asyncio.sleep(args.poll_gap)
        choices = {user_id: rng.randrange(4) for user_id, _ in students}
        profiler.start("votes")
        cpu4 = watch.cpu()
        burst_at = time.time() + 0.5
        for i in range(args.workers):
            commands[i].put({"kind": "vote", "pollId": vote_poll, "choices": choices, "windowSeconds": args.vote_window,
                             "startAt": burst_at, "seed": args.seed + i})
        voted = await gather_results(results, "voted", args.workers, args.timeout)
        cpu5 = watch.cpu()
        profiler.stop("votes")
        vote_cpu = cpu_delta(cpu5, cpu4)
        refused = [r for v in voted for r in v["refused"]]
        ack_ms = [a for v in voted for a in v["ackMs"]]
        figures["votesAcked"] = sum(v["ok"] for v in voted)
        figures["votesRefused"] = len(refused)
        if refused:
            print("  refused votes by reason:", {r: refused.count(r) for r in sorted(set(refused))}, flush=True)
        figures["lastVoteAckedSeconds"] = round(max(v["ackedBy"] for v in voted) - burst_at, 2)
        figures["voteAckP50Ms"] = rounded(percentile(ack_ms, 50))
        figures["voteAckP99Ms"] = rounded(percentile(ack_ms, 99))
        figures["voteServerCpuSeconds"] = round(server_cpu(vote_cpu), 3)
        figures["cpuMsPerVote"] = round(server_cpu(vote_cpu) * 1000 / max(1, len(ack_ms)), 3)
        figures["appCpuMsPerVote"] = round(app_cpu(vote_cpu) * 1000 / max(1, len(ack_ms)), 3)
        closed_sent = time.time()
        closed = await side.close_poll(vote_poll)
        figures["closedTotal"] = closed["total"]
        figures["closeRequestMs"] = round((time.time() - closed_sent) * 1000, 1)
        await asyncio.sleep(2.0)

        for i in range(args.workers):
            commands[i].put({"kind": "report", "pollIds": poll_ids, "chatTexts": chat_texts})
        reports = await gather_results(results, "report", args.workers, args.timeout)

        fanout_ms: list[float] = []
        missing_opened = 0
        for poll_id in poll_ids:
            for r in reports:
                for received in r["opened"][poll_id]:
                    if received is None:
                        missing_opened += 1
                    else:
                        fanout_ms.append((received - post_times[poll_id]) * 1000)
        final_ms: list[float] = []
        wrong_tally = missing_closed = 0
        for poll_id in poll_ids:
            for r in reports:
                for received, counts in r["closed"][poll_id]:
                    if received is None:
                        missing_closed += 1
                    elif poll_id == vote_poll:
                        final_ms.append((received - closed_sent) * 1000)
                        if counts != closed["counts"]:
                            wrong_tally += 1
        chat_ms: list[float] = []
        missing_chat = 0
        for text in chat_texts:
            if text not in chat_sent:
                continue
            for r in reports:
                for received in r["chats"][text]:
                    if received is None:
                        missing_chat += 1
                    else:
                        chat_ms.append((received - chat_sent[text]) * 1000)
        figures["pollOpenedP50Ms"] = rounded(percentile(fanout_ms, 50))
        figures["pollOpenedP99Ms"] = rounded(percentile(fanout_ms, 99))
        figures["pollOpenedDeliveries"] = len(fanout_ms)
        figures["chatP50Ms"] = rounded(percentile(chat_ms, 50))
        figures["chatP99Ms"] = rounded(percentile(chat_ms, 99))
        figures["chatDeliveries"] = len(chat_ms)
        figures["finalTallyP50Ms"] = rounded(percentile(final_ms, 50))
        figures["finalTallyMaxMs"] = rounded(max(final_ms)) if final_ms else None
        figures["finalTallyWrongAtClients"] = wrong_tally
        figures["votesCountedExactly"] = closed["total"] == figures["votesAcked"] and wrong_tally == 0
        figures["messagesLost"] = sum(r["lost"] for r in reports) + missing_opened + missing_closed + missing_chat
        figures["lostBreakdown"] = {"seqGaps": sum(r["lost"] for r in reports), "pollOpened": missing_opened,
                                    "pollClosed": missing_closed, "chat": missing_chat}
        figures["seqGapsDuringStorm"] = sum(r["stormGaps"] for r in reports)
        figures["seqRestartsSeen"] = sum(r["restarts"] for r in reports)
        figures["clientsStillConnected"] = sum(r["open"] for r in reports)
        figures["presenceUpdatesAtOneClient"] = max(r["presenceUpdates"] for r in reports)
        figures["rssIdleMiB"] = {r: round(v / 2**20, 1) for r, v in rss_idle.items()}
        figures["rssConnectedMiB"] = {r: round(v / 2**20, 1) for r, v in rss_connected.items()}
        figures["rssPeakMiB"] = {r: round(v / 2**20, 1) for r, v in watch.peak.items()}
        # Above where the processes started: Python keeps freed memory for reuse, so the
        # growth within one class says nothing once an earlier class has been bigger.
        figures["serverRssGrowthKiBPerConnection"] = round(
            sum(rss_connected[r] - side.rss_baseline[r] for r in server_roles) / 1024 / max(1, len(done_at)), 1)
        figures["serverRssPeakMiB"] = round(sum(watch.peak[r] for r in server_roles) / 2**20, 1)
        figures["cpuSeconds"] = {"storm": storm, "fanout": fanout_cpu, "votes": vote_cpu}
    finally:
        if profiles := profiler.finish():
            figures["profiles"] = profiles
        await watch.stop()
        for q in commands:
            q.put({"kind": "stop"})
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
        try:
            await side.end_run()
        except Exception as exc:  # noqa: BLE001 - the figures are already taken
            print(f"  ending the run failed: {exc}", flush=True)
    return figures


async def coordinate(args: argparse.Namespace) -> dict:
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64), timeout=aiohttp.ClientTimeout(total=120))
    sides: dict[str, LecternSide | PeerSide] = {}
    out: dict[str, Any] = {"sizes": args.sizes, "targets": args.targets, "workers": args.workers, "seed": args.seed,
                           "polls": args.polls, "chats": args.chats, "voteWindowSeconds": args.vote_window,
                           "peerProcesses": args.peer_processes, "repeat": args.repeat, "runs": [],
                           **({"repetitions": []} if args.repeat > 1 else {})}
    try:
        most = max(args.sizes)
        for target in args.targets:
            side = LecternSide(args, session) if target == "lectern" else PeerSide(args, session)
            print(f"… {target}: setting up {most} students", flush=True)
            out[f"{target}SetupSeconds"] = round(await side.prepare(most), 1)
            sides[target] = side
        run_index = 0
        for size in args.sizes:
            taken: dict[str, list[dict]] = {target: [] for target in args.targets}
            for repetition in range(args.repeat):
                for target in args.targets:
                    print(f"… {target}: a class of {size} students (connect storm, {args.polls} polls, {args.chats} chats, "
                          f"vote storm){f', {repetition + 1} of {args.repeat}' if args.repeat > 1 else ''}", flush=True)
                    started = time.monotonic()
                    try:
                        # Only the first class of a size is recorded: the profiler costs CPU too.
                        figures = await run_one(args, sides[target], size, run_index, profile=repetition == 0)
                    except Exception as exc:  # noqa: BLE001 - one failed run must not hide the others
                        figures = {"target": target, "students": size, "error": f"{type(exc).__name__}: {exc}"[:500]}
                    figures["seconds"] = round(time.monotonic() - started, 1)
                    figures["ok"] = run_ok(figures)
                    taken[target].append(figures)
                    run_index += 1
                    print("  " + ", ".join(
                        f"{k}={figures.get(k)}" for k in ("connectStormSeconds", "pollOpenedP99Ms", "chatP99Ms", "voteAckP99Ms",
                                                          "messagesLost", "votesCountedExactly", "cpuUsPerDeliveredMessage",
                                                          "error") if k in figures), flush=True)
            for target in args.targets:
                out["runs"].append(combined(taken[target]))
                if args.repeat > 1:
                    out["repetitions"].extend(taken[target])
    finally:
        for side in sides.values():
            if isinstance(side, PeerSide):
                await side.end_run()
        await session.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description="Live class benchmark: Lectern and the classic peer, by class size.")
    parser.add_argument("--sizes", default=None, help="class sizes, comma-separated (default 1000)")
    parser.add_argument("--students", type=int, default=None, help="one class size (same as --sizes N)")
    parser.add_argument("--targets", default="lectern", help="lectern, peer or both, comma-separated")
    parser.add_argument("--profile", default="bench", choices=sorted(PROFILE_BASE_URLS), help="devstack profile of the stack")
    parser.add_argument("--base-url", default=None, help="Lectern API base (default: the profile's host)")
    parser.add_argument("--workers", type=int, default=2, help="client processes")
    parser.add_argument("--concurrency", type=int, default=250, help="connects in flight per worker")
    parser.add_argument("--polls", type=int, default=5, help="polls opened to measure fan-out")
    parser.add_argument("--poll-gap", type=float, default=1.0, help="seconds a fan-out poll stays open")
    parser.add_argument("--chats", type=int, default=5, help="chat messages, each from a different student")
    parser.add_argument("--chat-gap", type=float, default=0.3, help="seconds between chat messages")
    parser.add_argument("--vote-window", type=float, default=1.0, help="seconds over which every student votes")
    parser.add_argument("--peer-processes", type=int, default=2, help="peer server processes (one Redis-backed cluster)")
    parser.add_argument("--peer-port", type=int, default=7301, help="first peer port")
    parser.add_argument("--peer-redis", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--py-spy-dir", default=None, help="record the server processes with py-spy into this folder")
    parser.add_argument("--py-spy-phase", choices=("all", "storm", "fanout", "votes"), default="all",
                        help="record only this phase (default: the whole run)")
    parser.add_argument("--py-spy-rate", type=int, default=100, help="py-spy samples per second (default 100)")
    parser.add_argument("--fresh-stack", action="store_true",
                        help="restart the profile's host and Web PubSub service first (memory from a clean slate)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="classes of each size per target, the targets taking turns; each figure is the median "
                             "of them, losses and refusals the worst")
    parser.add_argument("--seed", type=int, default=20260301)
    parser.add_argument("--timeout", type=float, default=300, help="bound of every phase, seconds")
    args = parser.parse_args()
    if args.students is not None and args.sizes is None:
        args.sizes = str(args.students)
    args.sizes = [int(s) for s in (args.sizes or "1000").split(",")]
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if not set(args.targets) <= {"lectern", "peer"}:
        parser.error("targets are lectern and peer")
    if args.repeat < 1:
        parser.error("--repeat is at least 1")
    raise_fd_limit()
    os.environ.setdefault("PYTHONHASHSEED", "0")
    result = asyncio.run(coordinate(args))
    for run in result["runs"]:
        print(f"\n{run['target']} — {run['students']} students")
        width = max(len(k) for k in run)
        for key, value in run.items():
            print(f"  {key:<{width}}  {value}")
    print(json.dumps({"benchmark": "live_class", **result}))
    return exit_status(result["runs"])


if __name__ == "__main__":
    sys.exit(main())
