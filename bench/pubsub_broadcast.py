"""Broadcast benchmark of the local Web PubSub service (localpubsub).

For each group size it starts a fresh service, opens that many raw WebSocket clients
(aiohttp, spread over worker processes so the client side is not the bottleneck), all in
one group, and then sends a series of group broadcasts through the REST API with the
official aio SDK. It reports:

- connections held: what the service counts once every client is connected (and still
  after the broadcasts, so none was dropped);
- memory per connection: growth of the service process's RSS from idle to all connected,
  divided by the number of connections;
- delivery latency p50/p99: from just before the SDK call to each client's receipt, over
  every (message, client) pair; and how long the REST call itself took;
- event-loop responsiveness: the slowest `/api/health` answer while broadcasts ran.

Usage: .venv/bin/python bench/pubsub_broadcast.py [--sizes 1000,5000] [--messages 20]
The last line of output is the whole result as one JSON object. A round where a member did
not connect, a connection dropped, or a delivery fell short is reported under `problems`
and makes the script exit non-zero: its latencies are of the messages that did arrive.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from azure.messaging.webpubsubservice import WebPubSubServiceClient
from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient as AioServiceClient

from common import free_port, percentile, raise_fd_limit, rounded

REPO = Path(__file__).resolve().parents[1]
ACCESS_KEY = "YmVuY2htYXJrLW9ubHkta2V5LWZvci10aGUtbG9jYWwtc2VydmljZQ=="
HUB = "bench"
GROUP = "everyone"
SUBPROTOCOLS = {"none": (), "json": ("json.webpubsub.azure.v1",), "reliable": ("json.reliable.webpubsub.azure.v1",)}


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def ms(values: list[float], p: float) -> float | None:
    """A percentile of durations in seconds, in milliseconds to one decimal."""
    value = percentile(values, p)
    return rounded(None if value is None else value * 1000, 1)


def connection_string(port: int) -> str:
    return f"Endpoint=http://127.0.0.1;Port={port};AccessKey={ACCESS_KEY};Version=1.0;"


def round_problems(result: dict[str, Any]) -> list[str]:
    """What went wrong in one round; an empty list means every member got every broadcast."""
    problems = []
    if result["opened"] < result["members"]:
        problems.append(f"{result['members'] - result['opened']} of {result['members']} members did not connect")
    if result["connections_held_after_broadcasts"] < result["opened"]:
        problems.append(f"service held {result['connections_held_after_broadcasts']} of {result['opened']} "
                        f"connections after the broadcasts")
    if result["connections_lost"]:
        problems.append(f"{result['connections_lost']} connections closed during the broadcasts")
    expected = result["members"] * result["messages"]
    if result["deliveries"] < expected:
        problems.append(f"delivered {result['deliveries']} of {expected} messages")
    return problems


def exit_status(rounds: list[dict[str, Any]]) -> int:
    """0 only when every round delivered every broadcast to every member."""
    return 0 if rounds and all(not round_problems(r) for r in rounds) else 1


# --- the service --------------------------------------------------------------------------
def start_service(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    config = workdir / f"settings-{port}.json"
    config.write_text(
        json.dumps(
            {
                "host": "127.0.0.1",
                "port": port,
                "access_key": ACCESS_KEY,
                "log_level": "warning",
                # Measure the service, not the emulated network latency of handshakes and acks.
                "simulated_latency_ms": 0,
                "hubs": {},
            }
        )
    )
    log = (workdir / f"localpubsub-{port}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "localpubsub", "--config", str(config)], cwd=REPO, stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"localpubsub exited early; see {log.name}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("localpubsub did not start listening")


def stop_service(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- client workers (separate processes) ----------------------------------------------------
def worker(
    index: int, first: int, count: int, port: int, subprotocol: str, messages: int, deadline: float, queue: Any, release: Any
) -> None:
    raise_fd_limit()
    asyncio.run(_worker(index, first, count, port, subprotocol, messages, deadline, queue, release))


async def _worker(
    index: int, first: int, count: int, port: int, subprotocol: str, messages: int, deadline: float, queue: Any,
    release: Any,
) -> None:
    service = WebPubSubServiceClient.from_connection_string(connection_string(port), hub=HUB)
    urls = [
        service.get_client_access_token(user_id=f"bench-{first + i}", groups=[GROUP])["url"] for i in range(count)
    ]
    protocols = SUBPROTOCOLS[subprotocol]
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=None))
    gate = asyncio.Semaphore(64)

    async def open_one(url: str) -> aiohttp.ClientWebSocketResponse | None:
        async with gate:
            for _ in range(3):
                try:
                    return await session.ws_connect(url, protocols=protocols, autoping=True, timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2))
                except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
                    await asyncio.sleep(0.2)
            return None

    opened = [ws for ws in await asyncio.gather(*(open_one(u) for u in urls)) if ws is not None]
    queue.put(("ready", index, len(opened)))

    latencies: list[float] = []
    lost_connections = 0

    async def read(ws: aiohttp.ClientWebSocketResponse) -> None:
        nonlocal lost_connections
        got = 0
        last_ack = time.monotonic()
        while got < messages:
            remaining = deadline - time.time()
            if remaining <= 0:
                return
            try:
                message = await ws.receive(timeout=remaining)
            except asyncio.TimeoutError:
                return
            if message.type is not aiohttp.WSMsgType.TEXT:
                if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    lost_connections += 1
                    return
                continue
            now = time.monotonic()
            body = json.loads(message.data)
            if subprotocol != "none":
                if body.get("type") != "message":
                    continue
                # Ack about once a second, as the official client does, and at the end.
                if subprotocol == "reliable" and (now - last_ack >= 1.0 or got + 1 == messages):
                    await ws.send_str(json.dumps({"type": "sequenceAck", "sequenceId": body["sequenceId"]}))
                    last_ack = now
                body = body["data"]
            latencies.append(now - body["sentAt"])
            got += 1

    await asyncio.gather(*(read(ws) for ws in opened))
    queue.put(("done", index, latencies, lost_connections))
    # Stay connected until the service has been counted once more.
    await asyncio.to_thread(release.wait, 60)
    await asyncio.gather(*(ws.close() for ws in opened), return_exceptions=True)
    await session.close()


# --- one round --------------------------------------------------------------------------------
async def probe_health(port: int, stop: asyncio.Event, samples: list[float]) -> None:
    """How long the service takes to answer while it broadcasts: a blocked loop shows here."""
    async with aiohttp.ClientSession() as http:
        while not stop.is_set():
            started = time.monotonic()
            async with http.get(f"http://127.0.0.1:{port}/api/health") as response:
                await response.read()
            samples.append(time.monotonic() - started)
            await asyncio.sleep(0.02)


async def wait_for(queue: Any, kind: str, workers: int, timeout: float) -> list[tuple[Any, ...]]:
    results: list[tuple[Any, ...]] = []
    deadline = time.monotonic() + timeout
    while len(results) < workers:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"workers did not report '{kind}' in {timeout:.0f} s")
        item = await asyncio.to_thread(queue.get, True, remaining)
        if item[0] == kind:
            results.append(item)
    return results


async def health_connections(port: int) -> int:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/api/health") as response:
            return int((await response.json())["connections"])


async def run_round(size: int, args: argparse.Namespace, workdir: Path, rng: random.Random) -> dict[str, Any]:
    port = free_port()
    process = start_service(port, workdir)
    context = mp.get_context("spawn")
    queue = context.Queue()
    release = context.Event()
    procs: list[Any] = []
    try:
        await asyncio.sleep(0.5)
        idle_rss = rss_bytes(process.pid)
        connect_started = time.monotonic()
        deadline = time.time() + args.connect_timeout + args.messages * args.interval + 30
        share, extra = divmod(size, args.workers)
        first = 0
        for index in range(args.workers):
            count = share + (1 if index < extra else 0)
            proc = context.Process(
                target=worker, args=(index, first, count, port, args.subprotocol, args.messages, deadline, queue, release),
                daemon=True,
            )
            proc.start()
            procs.append(proc)
            first += count
        ready = await wait_for(queue, "ready", args.workers, args.connect_timeout)
        opened = sum(item[2] for item in ready)
        connect_seconds = time.monotonic() - connect_started
        await asyncio.sleep(1.0)
        held = await health_connections(port)
        connected_rss = rss_bytes(process.pid)

        stop = asyncio.Event()
        health_samples: list[float] = []
        probe = asyncio.create_task(probe_health(port, stop, health_samples))
        rest_seconds: list[float] = []
        filler = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(args.payload_bytes))
        async with AioServiceClient.from_connection_string(connection_string(port), hub=HUB) as api:
            for sequence in range(args.messages):
                sent_at = time.monotonic()
                await api.send_to_group(GROUP, {"seq": sequence, "sentAt": sent_at, "pad": filler})
                rest_seconds.append(time.monotonic() - sent_at)
                await asyncio.sleep(args.interval)
        done = await wait_for(queue, "done", args.workers, args.messages * args.interval + 60)
        stop.set()
        await probe
        held_after = await health_connections(port)
        release.set()
        latencies = [value for item in done for value in item[2]]
        lost = sum(item[3] for item in done)
        # Every member should get every broadcast, not only the ones that managed to connect.
        expected = size * args.messages
        return {
            "members": size,
            "opened": opened,
            "connections_held": held,
            "connections_held_after_broadcasts": held_after,
            "connections_lost": lost,
            "connect_seconds": round(connect_seconds, 2),
            "idle_rss_mib": round(idle_rss / 2**20, 1),
            "connected_rss_mib": round(connected_rss / 2**20, 1),
            "rss_per_connection_kib": round((connected_rss - idle_rss) / max(held, 1) / 1024, 1),
            "messages": args.messages,
            "deliveries": len(latencies),
            "deliveries_expected": expected,
            "latency_p50_ms": ms(latencies, 50),
            "latency_p99_ms": ms(latencies, 99),
            "latency_max_ms": round(max(latencies, default=float("nan")) * 1000, 1),
            "rest_call_p50_ms": ms(rest_seconds, 50),
            "rest_call_max_ms": round(max(rest_seconds) * 1000, 1),
            "health_during_broadcasts_max_ms": round(max(health_samples, default=float("nan")) * 1000, 1),
        }
    finally:
        release.set()
        for proc in procs:
            proc.join(15)
            if proc.is_alive():
                proc.kill()
        stop_service(process)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,5000", help="group sizes to measure, comma-separated")
    parser.add_argument("--messages", type=int, default=20, help="broadcasts per size")
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between broadcasts")
    parser.add_argument("--payload-bytes", type=int, default=256, help="padding in each message")
    parser.add_argument("--workers", type=int, default=2, help="client processes")
    parser.add_argument("--subprotocol", choices=sorted(SUBPROTOCOLS), default="none")
    parser.add_argument("--connect-timeout", type=float, default=90.0)
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()
    raise_fd_limit()
    rng = random.Random(args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="pubsub-bench-"))
    rounds = []
    print(f"localpubsub broadcast benchmark: {os.cpu_count()} cores, subprotocol {args.subprotocol}, "
          f"{args.messages} broadcasts of ~{args.payload_bytes} B every {args.interval}s, {args.workers} client processes")
    for size in (int(s) for s in args.sizes.split(",")):
        result = await run_round(size, args, workdir, rng)
        result["problems"] = round_problems(result)
        result["ok"] = not result["problems"]
        rounds.append(result)
        print(
            f"{size:>6} members: held {result['connections_held']} (after broadcasts {result['connections_held_after_broadcasts']}), "
            f"RSS {result['idle_rss_mib']} -> {result['connected_rss_mib']} MiB = {result['rss_per_connection_kib']} KiB/connection, "
            f"delivered {result['deliveries']}/{result['deliveries_expected']}, "
            f"latency p50 {result['latency_p50_ms']} ms p99 {result['latency_p99_ms']} ms (max {result['latency_max_ms']}), "
            f"REST call p50 {result['rest_call_p50_ms']} ms, health max {result['health_during_broadcasts_max_ms']} ms"
        )
        for problem in result["problems"]:
            print(f"{size:>6} members: FAILED: {problem}", file=sys.stderr, flush=True)
    status = exit_status(rounds)
    print(json.dumps({"benchmark": "pubsub_broadcast", "subprotocol": args.subprotocol, "seed": args.seed,
                      "ok": status == 0, "rounds": rounds}))
    return status


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
