"""CPU of single calls, measured one at a time in this process: the Azure SDK calls a quiz
submit makes after its answer, and the local host's route lookup. The figures quoted in
docs/BENCHMARKS.md ("Per-operation cost, third round") come from it.

    .venv/bin/python -m devstack start --profile bench
    .venv/bin/python scripts/call_costs.py sdk        # Table upsert, Web PubSub send_to_user (also without the SDK)
    .venv/bin/python scripts/call_costs.py pipelines  # twenty in flight: the SDK's pipelines as built and as the app builds them
    .venv/bin/python scripts/call_costs.py routes     # resolving paths against Lectern's routes
    .venv/bin/python scripts/call_costs.py replies    # a batched Redis round trip, per reply
    .venv/bin/python scripts/call_costs.py attendance # writing a class's attendance rows, per row
    .venv/bin/python scripts/call_costs.py connect    # a class connection's own steps, no I/O (the profile's settings; no call is made)

Prints microseconds of this process's CPU (`time.process_time()`) per call.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devhost.route_table import RouteTable  # noqa: E402
from devstack.stack import Stack  # noqa: E402

if TYPE_CHECKING:
    from shared_code.settings import Settings

PATHS = [
    ("GET", ["lessons", "6f1c2b1e-6c1f-4f8e-9a44-0a0000000001"]),
    ("PUT", ["progress", "lessons", "6f1c2b1e-6c1f-4f8e-9a44-0a0000000001"]),
    ("POST", ["webpubsub", "events"]),
    ("GET", ["system", "noop"]),
]


async def per_call(label: str, call: Callable[[], Awaitable[object]], calls: int, warm: int = 30) -> None:
    for _ in range(warm):
        await call()
    started = time.process_time()
    for _ in range(calls):
        await call()
    print(f"{label:<40} {1e6 * (time.process_time() - started) / calls:8.0f} µs CPU per call")


async def sdk(calls: int) -> None:
    os.environ.update(Stack("bench").env())
    from shared_code import bootstrap
    from shared_code.settings import Settings

    ctx = await bootstrap.build_context(Settings())
    user = str(uuid.uuid4())
    try:
        await per_call("Table upsert (change-log row)", lambda: ctx.tables.upsert(
            ctx.settings.change_log_table, {"PartitionKey": user, "RowKey": str(uuid.uuid4()), "kind": "x"}), calls)
        await per_call("Web PubSub send_to_user", lambda: ctx.pubsub.send_to_user(user, {"type": "quiz.graded"}), calls)
        await bare_send_to_user(ctx.settings, user, calls)
    finally:
        await ctx.close()


async def bare_send_to_user(settings: Settings, user: str, calls: int) -> None:
    """The same REST call as `send_to_user` without the SDK: one aiohttp POST with a token
    signed once. Not a way the app sends (it keeps the SDK's retries, identity and
    errors); it shows what the request itself costs beside the SDK's pipeline around it."""
    import aiohttp
    import jwt

    from shared_code.adapters.webpubsub import parse_connection_string

    parts = parse_connection_string(settings.webpubsub_connection_string.get_secret_value())
    endpoint = parts["endpoint"].rstrip("/") + (f":{parts['port']}" if parts.get("port") else "")
    url = f"{endpoint}/api/hubs/{settings.webpubsub_hub}/users/{user}/:send?api-version=2024-01-01"
    token = jwt.encode({"aud": url, "exp": int(time.time()) + 3600}, parts["accesskey"], algorithm="HS256")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session:

        async def send() -> None:
            async with session.post(url, data=b'{"type":"quiz.graded"}', headers=headers) as resp:
                await resp.read()
                if resp.status != 202:
                    raise RuntimeError(f"send_to_user without the SDK -> {resp.status}")

        await per_call("the same POST without the SDK (aiohttp)", send, calls)


async def pipelines(calls: int) -> None:
    """Twenty calls in flight, CPU per call, three rounds in turns (the thirteenth round).
    Pushes to two hundred users: the Web PubSub client as the SDK builds it, the app's four
    policies with the SDK's own signature on every call, and the app's client (a URL signed
    once per half minute). Change-log upserts: the Table client as the SDK builds it (the
    app's), and without the policies the push client leaves out."""
    os.environ.update(Stack("bench").env())
    from azure.core.pipeline import policies as core
    from azure.data.tables.aio import TableServiceClient
    from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient

    from shared_code import bootstrap
    from shared_code.adapters import webpubsub
    from shared_code.adapters.azure_sdk import CLIENT_OPTIONS, lean_pipeline
    from shared_code.adapters.storage_account import StorageAccount
    from shared_code.settings import Settings

    ctx = await bootstrap.build_context(Settings())
    connection_string, hub = ctx.settings.webpubsub_connection_string.get_secret_value(), ctx.settings.webpubsub_hub
    options = {"connection_timeout": 5, "read_timeout": 5, **CLIENT_OPTIONS}
    as_built = WebPubSubServiceClient.from_connection_string(connection_string, hub=hub, retry_total=0, **options)
    sdk_signature = as_built._config.authentication_policy  # the SDK's key policy: a JWT per call
    signed_each_call = WebPubSubServiceClient.from_connection_string(
        connection_string, hub=hub, policies=lean_pipeline(webpubsub.SDK_MONIKER, sdk_signature), **options)
    unused = (core.RequestIdPolicy, core.ProxyPolicy, core.RedirectPolicy, core.CustomHookPolicy,
              core.NetworkTraceLoggingPolicy, core.HttpLoggingPolicy)
    tables = ctx.tables.service
    fewer = TableServiceClient.from_connection_string(
        StorageAccount.from_settings(ctx.settings).connection_string, retry_total=1, **options,
        policies=[p for p in tables._policies if not isinstance(p, unused)])
    await ctx.tables.ensure(ctx.settings.change_log_table)
    users = [str(uuid.uuid4()) for _ in range(200)]

    async def in_flight(call: Callable[[int], Awaitable[object]]) -> float:
        async def worker(k: int) -> None:
            for i in range(calls // 20):
                await call(k * 37 + i)

        started = time.process_time()
        await asyncio.gather(*(worker(k) for k in range(20)))
        return 1e6 * (time.process_time() - started) / (calls // 20 * 20)

    def push(client: WebPubSubServiceClient) -> Callable[[int], Awaitable[object]]:
        return lambda n: client.send_to_user(users[n % 200], {"type": "x"}, content_type="application/json")

    def upsert(service: TableServiceClient) -> Callable[[int], Awaitable[object]]:
        client = service.get_table_client(ctx.settings.change_log_table)
        return lambda n: client.upsert_entity({"PartitionKey": users[n % 200], "RowKey": str(uuid.uuid4()), "kind": "x"})

    pushes = {"as built": push(as_built), "four policies, signed every call": push(signed_each_call),
              "the app's": push(ctx.pubsub.client)}
    upserts = {"as built (the app's)": upsert(tables), "fewer policies": upsert(fewer)}
    try:
        for call in (*pushes.values(), *upserts.values()):
            await in_flight(call)
        for _ in range(3):
            for kind, calls_of in (("push", pushes), ("upsert", upserts)):
                costs = [f"{name} {await in_flight(call):5.0f}" for name, call in calls_of.items()]
                print(f"{kind:<7}" + "   ".join(costs) + "   µs CPU per call")
    finally:
        for client in (as_built, signed_each_call, fewer):
            await client.close()
        await ctx.close()


async def replies(calls: int) -> None:
    """The batchers' round trip (one deadline per batch) beside the same batch read with the
    connection's own deadline per reply, in turns, ten batches of twenty in flight."""

    import redis.asyncio as aioredis
    from hiredis import pack_command

    from shared_code.pipelining import round_trip

    stack = Stack("bench")
    r = aioredis.Redis.from_url(stack.redis_url, socket_timeout=2.0)
    commands: list[tuple[str | int, ...]] = [("PING",)] * 20

    async def per_reply_deadline() -> None:
        conn = await r.connection_pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await conn.send_packed_command(b"".join(pack_command(c) for c in commands), check_health=False)
            for _ in commands:
                await conn.read_response()
        finally:
            await r.connection_pool.release(conn)

    async def one_deadline() -> None:
        await round_trip(r, commands)

    async def cpu_per_reply(batch: Callable[[], Awaitable[None]]) -> float:
        async def worker() -> None:
            for _ in range(calls // 10):
                await batch()

        started = time.process_time()
        await asyncio.gather(*(worker() for _ in range(10)))
        return 1e6 * (time.process_time() - started) / (calls // 10 * 10 * len(commands))

    try:
        await one_deadline()
        for _ in range(3):
            own, ours = await cpu_per_reply(per_reply_deadline), await cpu_per_reply(one_deadline)
            print(f"a deadline per reply {own:6.1f} µs CPU per reply   one per batch {ours:6.1f} µs")
    finally:
        await r.aclose()


async def attendance(rows: int) -> None:
    """A class's attendance rows written the way a host writes them now (taken from the
    class's Redis stream, a hundred to an entity) beside the layout before (one entity per
    row, in batch transactions of a hundred), in turns, per row."""
    os.environ.update(Stack("bench").env())
    from datetime import UTC, datetime

    from shared_code import bootstrap
    from shared_code.adapters.redis import live_presence as presence_redis
    from shared_code.services.live import attendance as live_attendance
    from shared_code.settings import Settings

    ctx = await bootstrap.build_context(Settings())
    table = ctx.settings.attendance_table
    try:
        for _ in range(3):
            class_id, now = str(uuid.uuid4()), datetime.now(UTC)
            one_each = [
                live_attendance.attendance_entity(class_id, user_id=str(uuid.uuid4()), user_name="Student",
                                                  connection_id=uuid.uuid4().hex, kind="join", at=now)
                for _ in range(rows)
            ]
            started = time.process_time()
            for start in range(0, rows, 100):
                await ctx.tables.insert_batch(table, one_each[start : start + 100])
            before = 1e6 * (time.process_time() - started) / rows

            class_id = str(uuid.uuid4())
            for row in one_each:
                await presence_redis.join(ctx.redis, class_id, row["connectionId"], row["userId"], "Student")
            started = time.process_time()
            await live_attendance.write_pending(ctx, class_id, "call-costs")
            now_cost = 1e6 * (time.process_time() - started) / rows
            print(f"one entity per row, batches of 100 {before:6.0f} µs CPU per row   "
                  f"a hundred rows to an entity {now_cost:6.0f} µs")
    finally:
        await ctx.close()


async def connect(calls: int) -> None:
    """The steps a class connection takes apart from its requests and round trips, in the
    app (negotiate, then the service's connect event) and in the local Web PubSub service:
    what is left once the stores' calls and the HTTP front are counted elsewhere. Each is
    the app's or the service's own function, called as they call it."""
    import json

    from localpubsub import tokens
    from shared_code import json_codec
    from shared_code.adapters.webpubsub import PubSub
    from shared_code.services.live import connection_state
    from shared_code.services.live.class_access import Member
    from shared_code.settings import Settings

    os.environ.update(Stack("bench").env())  # the profile's settings; nothing is called
    pubsub = PubSub(Settings())

    key = b"k" * 32
    user_id, class_id, course_id = (str(uuid.uuid4()) for _ in range(3))
    member = Member(connection_id="c0", user_id=user_id, class_id=class_id, course_id=course_id, role="student",
                    name="Student")
    ticket = connection_state.Ticket(user_id, class_id, course_id, "student", int(time.time() * 1000) + 60_000, "Student")
    signed = connection_state.encode_ticket(ticket, key)
    url, _ = await pubsub.client_url(user_id=user_id, groups=[], roles=[])  # as negotiate asks for it
    token = url.split("access_token=", 1)[1]
    access_key = pubsub._token_key or ""
    claims = tokens.decode(token, access_key)
    body = json.dumps({"claims": {k: [str(v)] for k, v in claims.items()}, "query": {"classId": [class_id],
                       "ticket": [signed], "access_token": [token]}, "subprotocols": ["json.reliable.webpubsub.azure.v1"],
                       "clientCertificates": []}).encode()

    for _ in range(200):
        await pubsub.client_url(user_id=user_id, groups=[], roles=[])
    started = time.process_time()
    for _ in range(calls):
        await pubsub.client_url(user_id=user_id, groups=[], roles=[])
    print(f"{'negotiate: sign the client token':<42} {1e6 * (time.process_time() - started) / calls:6.1f} µs CPU per call")
    await pubsub.client.close()
    steps: list[tuple[str, Callable[[], object]]] = [
        ("negotiate: sign the join ticket", lambda: connection_state.encode_ticket(ticket, key)),
        ("service: verify the client token", lambda: tokens.decode(token, access_key)),
        ("connect: parse the event body (json)", lambda: json.loads(body)),
        ("connect: parse the event body (orjson)", lambda: json_codec.loads(body)),
        ("connect: check the join ticket", lambda: connection_state.decode_ticket(
            signed, user_id, class_id, int(time.time() * 1000), key)),
        ("connect: sign the connection state", lambda: connection_state.encode_state(member, key)),
    ]
    for label, step in steps:
        for _ in range(200):
            step()
        started = time.process_time()
        for _ in range(calls):
            step()
        print(f"{label:<42} {1e6 * (time.process_time() - started) / calls:6.1f} µs CPU per call")


def routes(calls: int) -> None:
    from tests.support.app_index import lectern_functions

    table = RouteTable([(str(f.trigger.get("route") or f.name), f.trigger.get("methods"), f.name)
                        for f in lectern_functions() if f.trigger.get("type") == "httpTrigger"])
    for method, path in PATHS:
        started = time.process_time()
        for _ in range(calls):
            table.resolve(method, path)
        print(f"{method} {'/'.join(path)[:40]:<40} {1e6 * (time.process_time() - started) / calls:6.1f} µs CPU per lookup")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["sdk", "pipelines", "routes", "replies", "attendance", "connect"])
    parser.add_argument("--calls", type=int, default=None,
                        help="calls measured (sdk 400, pipelines 2000, routes 20000, replies 3000, attendance rows 1000, "
                        "connect 20000)")
    args = parser.parse_args()
    if args.what == "sdk":
        asyncio.run(sdk(args.calls or 400))
    elif args.what == "pipelines":
        asyncio.run(pipelines(args.calls or 2000))
    elif args.what == "replies":
        asyncio.run(replies(args.calls or 3000))
    elif args.what == "attendance":
        asyncio.run(attendance(args.calls or 1000))
    elif args.what == "connect":
        asyncio.run(connect(args.calls or 20_000))
    else:
        routes(args.calls or 20_000)


if __name__ == "__main__":
    main()
