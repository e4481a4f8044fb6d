"""Drives votes, chat messages or heartbeats at the test slot's running host, for a profiler
to watch, or through the app's functions in this process, to count its CPU per operation.

    LECTERN_TEST_SLOT=5 .venv/bin/python scripts/drive_hot_paths.py votes --seconds 12
    .venv/bin/py-spy record -o bench/profiles/vote.svg --pid <host pid> --duration 10
    LECTERN_TEST_SLOT=5 .venv/bin/python scripts/drive_hot_paths.py chat --in-process --operations 1000

Votes and chat messages are CloudEvents POSTs to /api/webpubsub/events signed as the local
Web PubSub service signs them, with a connection state the app signed (as if each student
had connected); heartbeats are PUTs of the student player. The data is made through the
public API. The host should run with rates that let the drive through
(LECTERN_RATE_VOTES_PER_10S, LECTERN_RATE_CHAT_PER_10S, LECTERN_RATE_HEARTBEATS_PER_MINUTE,
LECTERN_RATE_WRITES_PER_MINUTE in its environment): otherwise the profile shows refusals.
Prints what it sent and the answers' statuses.

`--in-process` sends the same requests one after the other to the indexed functions in
this process, on a context of its own against the slot's stores (rates raised here), after
`--warm` unmeasured ones, and reports this process's CPU time (`time.process_time()`) per
operation: the app's own cost, without the host's HTTP layer or other requests.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import hmac
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import azure.functions as func
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devstack.stack import Stack  # noqa: E402
from shared_code import bootstrap  # noqa: E402
from shared_code.services.live.class_access import Member  # noqa: E402
from shared_code.services.live.connection_state import encode_state  # noqa: E402
from shared_code.settings import Settings  # noqa: E402
from tests.support.actors import new_actor  # noqa: E402
from tests.support.app_index import lectern_functions  # noqa: E402
from tests.support.content import enrol, published_course  # noqa: E402
from tests.support.live import create_class, start_class  # noqa: E402


async def _setup(api: httpx.AsyncClient, students: int) -> tuple[dict, dict, list]:
    tutor = await new_actor(api, "tutor")
    course, lesson = await published_course(api, tutor)
    klass = await create_class(api, tutor, course["id"])
    await start_class(api, tutor, klass["id"])
    poll = (await api.post(f"classes/{klass['id']}/polls", headers=tutor.headers,
                           json={"question": "Q?", "options": ["a", "b", "c", "d"]})).json()
    actors = [await new_actor(api, "student") for _ in range(students)]
    for actor in actors:
        await enrol(api, actor, course["id"])
    return {"class": klass, "poll": poll, "course": course}, lesson, actors


# Raised for --in-process, so the measured operations are accepted ones.
RAISED_RATES = ("LECTERN_RATE_VOTES_PER_10S", "LECTERN_RATE_CHAT_PER_10S", "LECTERN_RATE_HEARTBEATS_PER_MINUTE",
                "LECTERN_RATE_WRITES_PER_MINUTE")


async def in_process(
    opts: argparse.Namespace, settings: Settings, event: Callable[[int], tuple[dict[str, str], bytes]] | None,
    actors: list, lesson: dict,
) -> dict[str, object]:
    """`opts.warm` then `opts.operations` requests, one after the other, to the indexed
    functions on a context of this process; CPU time per measured operation."""
    ctx = await bootstrap.build_context(settings)
    bootstrap._context = ctx  # the functions reach the context through get_context()
    functions = {f.name: f.user_function for f in lectern_functions()}
    statuses: collections.Counter[str] = collections.Counter()

    async def one(i: int) -> str:
        if event is not None:
            headers, body = event(i)
            response = await functions["webpubsub_events"](func.HttpRequest(
                method="POST", url="http://localhost/api/webpubsub/events", headers=headers, body=body))
            answer = json.loads(response.get_body())
            return "ok" if answer.get("ok") else str(answer.get("reason"))
        actor = actors[i % len(actors)]
        watched = 1 + i / 100
        response = await functions["record_progress"](func.HttpRequest(
            method="PUT", url=f"http://localhost/api/progress/lessons/{lesson['id']}",
            headers={**actor.headers, "content-type": "application/json"}, route_params={"lessonId": lesson["id"]},
            body=json.dumps({"positionSeconds": watched, "watchedSeconds": watched, "durationSeconds": 600}).encode()))
        return str(response.status_code)

    try:
        for i in range(opts.warm):
            await one(i)
        cpu_before, started = time.process_time(), time.monotonic()
        for i in range(opts.warm, opts.warm + opts.operations):
            statuses[await one(i)] += 1
        cpu, took = time.process_time() - cpu_before, time.monotonic() - started
        await ctx.background.drain()
    finally:
        await ctx.close()
    return {"what": opts.what, "inProcess": True, "operations": opts.operations, "seconds": round(took, 1),
            "answers": statuses, "cpuUsPerOperation": round(cpu / opts.operations * 1e6)}


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of `pid` so far (Linux), 0 without one."""
    if not pid:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["votes", "chat", "heartbeats"])
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--host-pid", type=int, help="report this process's CPU time per operation")
    parser.add_argument("--in-process", action="store_true", help="call the app's functions here, one at a time")
    parser.add_argument("--operations", type=int, default=1000, help="--in-process: operations measured")
    parser.add_argument("--warm", type=int, default=50, help="--in-process: operations sent first, not measured")
    opts = parser.parse_args()
    stack = Stack("test")
    env = stack.env()
    os.environ.update(env)
    if opts.in_process:
        os.environ.update({name: "1000000" for name in RAISED_RATES})
    settings = Settings()
    access_key = next(p.split("=", 1)[1] for p in env["WebPubSubConnectionString"].split(";")
                      if p.lower().startswith("accesskey="))
    async with httpx.AsyncClient(base_url=stack.base_url + "/", timeout=30) as api:
        live, lesson, actors = await _setup(api, opts.students)
        statuses: collections.Counter[str] = collections.Counter()
        deadline = time.monotonic() + opts.seconds
        sent = 0

        def event(i: int, name: str, data: dict) -> tuple[dict[str, str], bytes]:
            actor = actors[i % len(actors)]
            member = Member(connection_id=f"c{actor.user_id[:8]}", user_id=actor.user_id,
                            class_id=live["class"]["id"], course_id=live["course"]["id"], role="student",
                            name=actor.name)
            signature = hmac.new(access_key.encode(), member.connection_id.encode(), hashlib.sha256).hexdigest()
            return {
                "ce-type": f"azure.webpubsub.user.{name}", "ce-eventname": name,
                "ce-connectionid": member.connection_id, "ce-userid": member.user_id,
                "ce-signature": f"sha256={signature}", "content-type": "application/json",
                "ce-connectionstate": encode_state(member, settings.connection_state_signing_key),
            }, json.dumps({**data, "ref": str(i)}).encode()

        def vote(i: int) -> tuple[dict[str, str], bytes]:
            return event(i, "vote", {"pollId": live["poll"]["id"], "option": i % 4})

        def chat(i: int) -> tuple[dict[str, str], bytes]:
            return event(i, "chat", {"text": f"message {i}"})

        async def send_event(request: tuple[dict[str, str], bytes]) -> str:
            headers, body = request
            resp = await api.post("webpubsub/events", content=body, headers=headers)
            answer = resp.json()
            return "ok" if answer.get("ok") else str(answer.get("reason"))

        async def beat(i: int) -> str:
            actor = actors[i % len(actors)]
            watched = 1 + i / 100
            resp = await api.put(f"progress/lessons/{lesson['id']}", headers=actor.headers, json={
                "positionSeconds": watched, "watchedSeconds": watched, "durationSeconds": 600})
            return str(resp.status_code)

        if opts.in_process:
            events = {"votes": vote, "chat": chat}
            print(json.dumps(await in_process(opts, settings, events.get(opts.what), actors, lesson)))
            return

        async def send(i: int) -> str:
            if opts.what == "heartbeats":
                return await beat(i)
            return await send_event((vote if opts.what == "votes" else chat)(i))

        async def worker(k: int) -> None:
            nonlocal sent
            i = k
            while time.monotonic() < deadline:
                statuses[await send(i)] += 1
                sent += 1
                i += opts.concurrency

        started, cpu_before = time.monotonic(), _cpu_seconds(opts.host_pid)
        await asyncio.gather(*(worker(k) for k in range(opts.concurrency)))
        took, cpu = time.monotonic() - started, _cpu_seconds(opts.host_pid) - cpu_before
        print(json.dumps({"what": opts.what, "sent": sent, "seconds": round(took, 1), "answers": statuses,
                          "hostCpuUsPerOperation": round(cpu / max(1, sent) * 1e6) if opts.host_pid else None,
                          "runId": uuid.uuid4().hex[:8]}))


if __name__ == "__main__":
    asyncio.run(main())
