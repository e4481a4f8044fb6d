"""The machine's own ceiling for Redis and PostgreSQL, measured with their stock benchmark tools.

The API benchmarks say how close the app gets to the host's no-op ceiling; this says how
far the stores themselves go on the same machine in the same session, so a slow phase can
be put down to the app or to the store it waits on.

- `redis-benchmark` against the profile's Redis, on database 15 (which nothing else uses),
  SET/GET/INCR/LPUSH/HSET with 50 clients, once unpipelined and once 16 commands per
  round trip; requests/s and p50/p99 per command. Its keys are deleted afterwards.
- `pgbench` against the profile's PostgreSQL, in a scratch database `lectern_pgbench`
  (scale 10, dropped at the end): select-only and the default TPC-B-like script, 8
  clients on 2 threads; transactions/s, average latency and p50/p99 from its
  per-transaction log.

    .venv/bin/python -m devstack start --profile bench
    .venv/bin/python bench/stores.py --profile bench

The last line of output is the whole result as one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg
import redis
from psycopg import sql

from common import percentile, profile_environment, rounded

REDIS_BENCHMARK = "/usr/bin/redis-benchmark"
PGBENCH = "/usr/bin/pgbench"
REDIS_DB = 15
REDIS_TESTS = "set,get,incr,lpush,hset"
# The keys redis-benchmark writes when it is not told to randomise them (-r).
REDIS_KEYS = ("key:__rand_int__", "counter:__rand_int__", "mylist", "myhash")
PG_DATABASE = "lectern_pgbench"


def progress(line: str) -> None:
    print(line, flush=True)


# --- Redis ---------------------------------------------------------------------------------
def redis_run(url: str, *, requests: int, clients: int, pipeline: int) -> dict:
    """One redis-benchmark run in CSV mode: {command: {rps, avgMs, p50Ms, p99Ms}}."""
    parts = urlsplit(url)
    command = [REDIS_BENCHMARK, "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 6379),
               "--dbnum", str(REDIS_DB), "-t", REDIS_TESTS, "-n", str(requests), "-c", str(clients),
               "-P", str(pipeline), "--csv", "-q"]
    env = {**os.environ, **({"REDISCLI_AUTH": unquote(parts.password)} if parts.password else {})}
    out = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True, env=env).stdout
    results = {}
    for row in csv.DictReader(out.splitlines()):
        results[row["test"]] = {
            "rps": round(float(row["rps"])),
            "avgMs": rounded(float(row["avg_latency_ms"]), 3),
            "p50Ms": rounded(float(row["p50_latency_ms"]), 3) if "p50_latency_ms" in row else None,
            "p99Ms": rounded(float(row["p99_latency_ms"]), 3) if "p99_latency_ms" in row else None,
        }
    return results


def redis_ceiling(url: str, *, requests: int, clients: int) -> dict:
    parts = urlsplit(url)
    result: dict = {"address": f"{parts.hostname}:{parts.port or 6379}", "db": REDIS_DB, "requests": requests, "clients": clients}
    try:
        for name, pipeline in (("unpipelined", 1), ("pipelined", 16)):
            progress(f"… redis-benchmark {REDIS_TESTS}, {requests} requests, {clients} clients, pipeline {pipeline}")
            result[name] = {"pipeline": pipeline, "commands": redis_run(url, requests=requests, clients=clients, pipeline=pipeline)}
            for command, figures in result[name]["commands"].items():
                progress(f"    {command:<6} {figures['rps']:>11,.0f} req/s  p50 {figures['p50Ms']} ms  p99 {figures['p99Ms']} ms")
    finally:
        client = redis.Redis(host=parts.hostname, port=parts.port or 6379, password=parts.password, db=REDIS_DB)
        client.delete(*REDIS_KEYS)
        client.close()
    return result


# --- PostgreSQL ----------------------------------------------------------------------------
def pg_tps(stdout: str) -> dict:
    """tps and average latency from pgbench's summary."""
    tps = re.search(r"^tps = ([\d.]+)", stdout, re.M)
    latency = re.search(r"^latency average = ([\d.]+) ms", stdout, re.M)
    done = re.search(r"^number of transactions actually processed: (\d+)", stdout, re.M)
    return {
        "tps": round(float(tps.group(1))) if tps else None,
        "latencyAvgMs": rounded(float(latency.group(1)), 3) if latency else None,
        "transactions": int(done.group(1)) if done else None,
    }


def pg_latencies(log_dir: Path, prefix: str) -> list[float]:
    """Per-transaction latencies (ms) from pgbench's logs: the third field of each line, in µs."""
    latencies = []
    for path in log_dir.glob(f"{prefix}.*"):
        for line in path.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[2].isdigit():
                latencies.append(int(fields[2]) / 1000)
    return latencies


def pg_ceiling(url: str, *, seconds: int, clients: int, threads: int, scale: int) -> dict:
    parts = urlsplit(url)
    host, port, user = parts.hostname or "127.0.0.1", parts.port or 5432, unquote(parts.username or "postgres")
    env = {**os.environ, "PGHOST": host, "PGPORT": str(port), "PGUSER": user,
           **({"PGPASSWORD": unquote(parts.password)} if parts.password else {})}
    admin = f"host={host} port={port} user={user} dbname=postgres" + (f" password={unquote(parts.password)}" if parts.password else "")
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(PG_DATABASE))
    result: dict = {"address": f"{host}:{port}", "database": PG_DATABASE, "scale": scale, "clients": clients,
                    "threads": threads, "seconds": seconds}
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(drop)
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(PG_DATABASE)))
    try:
        progress(f"… pgbench -i -s {scale}")
        started = time.monotonic()
        subprocess.run([PGBENCH, "-i", "-s", str(scale), "-q", PG_DATABASE], env=env, capture_output=True, text=True,
                       timeout=60, check=True)
        result["initSeconds"] = round(time.monotonic() - started, 1)
        with tempfile.TemporaryDirectory(prefix="pgbench-") as logs:
            for name, script in (("selectOnly", ["-S"]), ("tpcb", [])):
                progress(f"… pgbench {name} {seconds} s, {clients} clients, {threads} threads")
                out = subprocess.run(
                    [PGBENCH, *script, "-T", str(seconds), "-c", str(clients), "-j", str(threads),
                     "--log", f"--log-prefix={logs}/{name}", PG_DATABASE],
                    env=env, capture_output=True, text=True, timeout=seconds + 30, check=True,
                ).stdout
                latencies = pg_latencies(Path(logs), name)
                result[name] = {**pg_tps(out), "p50Ms": rounded(percentile(latencies, 50), 3),
                                "p99Ms": rounded(percentile(latencies, 99), 3)}
                figures = result[name]
                progress(f"    {figures['tps']:>11,.0f} tps  avg {figures['latencyAvgMs']} ms  "
                         f"p50 {figures['p50Ms']} ms  p99 {figures['p99Ms']} ms")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(drop)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="bench", help="devstack profile whose Redis and PostgreSQL to measure (default bench)")
    parser.add_argument("--requests", type=int, default=100_000, help="requests per redis-benchmark command")
    parser.add_argument("--redis-clients", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=10, help="seconds per pgbench run")
    parser.add_argument("--pg-clients", type=int, default=8)
    parser.add_argument("--pg-threads", type=int, default=2)
    parser.add_argument("--scale", type=int, default=10, help="pgbench scale factor (100,000 accounts each)")
    args = parser.parse_args()

    env = profile_environment(args.profile)
    started = time.monotonic()
    result: dict = {"benchmark": "stores"}
    failed = False
    for store, measure in (
        ("redis", lambda: redis_ceiling(env["REDIS_URL"], requests=args.requests, clients=args.redis_clients)),
        ("postgres", lambda: pg_ceiling(env["POSTGRES_URL"], seconds=args.seconds, clients=args.pg_clients,
                                        threads=args.pg_threads, scale=args.scale)),
    ):
        try:
            result[store] = measure()
        except (OSError, subprocess.SubprocessError, psycopg.Error, redis.RedisError) as exc:
            detail = getattr(exc, "stderr", None) or str(exc)
            print(f"{store}: {detail}", file=sys.stderr)
            result[store] = {"error": str(detail).strip()[-500:]}
            failed = True
    progress(f"done in {time.monotonic() - started:.0f} s")
    print(json.dumps(result))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
