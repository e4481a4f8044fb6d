"""Runs every benchmark in bench/ once, with fixed seeds and bounded durations, and writes
their final JSON lines to bench/results.json.

`make bench` calls this. It starts the dev stack when it is not running (`python -m
devstack start`), runs each benchmark as its own process (so one failing does not stop the
rest), prints progress as it goes, and records each one's figures, duration and exit code.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"

# name, arguments: short, bounded runs so the whole set stays well under 15 minutes on 2 cores.
BENCHMARKS: list[tuple[str, list[str]]] = [
    ("lesson_read", ["--seconds", "8", "--warmup", "2"]),
    ("heartbeat", ["--seconds", "8", "--warmup", "2"]),
    ("flush", ["--rounds", "2"]),
    ("analytics", ["--runs", "5", "--warmup", "1"]),
    ("pubsub_broadcast", ["--sizes", "1000,5000", "--messages", "10"]),
    ("live_class", ["--students", "1000", "--base-url", "http://127.0.0.1:7071/api"]),
]
TIMEOUT_SECONDS = 300


def last_json_line(text: str) -> object | None:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def main() -> int:
    print("… dev stack", flush=True)
    subprocess.run([sys.executable, "-m", "devstack", "start", "--profile", "dev"], cwd=ROOT, check=True)
    results: dict[str, object] = {"startedAt": datetime.now(timezone.utc).isoformat(), "benchmarks": {}}
    failed = 0
    for i, (name, args) in enumerate(BENCHMARKS, 1):
        print(f"[{i}/{len(BENCHMARKS)}] {name} {' '.join(args)}", flush=True)
        started = time.monotonic()
        try:
            proc = subprocess.run(
                [sys.executable, str(ROOT / "bench" / f"{name}.py"), *args],
                cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_SECONDS,
            )
            code, out, err = proc.returncode, proc.stdout, proc.stderr
        except subprocess.TimeoutExpired as exc:
            code, out, err = -1, exc.stdout or "", f"timed out after {TIMEOUT_SECONDS} s"
        elapsed = round(time.monotonic() - started, 1)
        figures = last_json_line(out if isinstance(out, str) else out.decode())
        ok = code == 0 and figures is not None
        failed += 0 if ok else 1
        results["benchmarks"][name] = {"ok": ok, "exitCode": code, "seconds": elapsed, "args": args, "figures": figures,
                                       **({} if ok else {"error": str(err)[-2000:]})}
        print(f"    {'✓' if ok else '✗'} {name} in {elapsed} s", flush=True)
    results["finishedAt"] = datetime.now(timezone.utc).isoformat()
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)} ({failed} failed)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
