"""`python -m devstack {up|start|stop|status|tokens|services} [--profile dev|test|bench] [--only a,b]`.

    up        every service in the background, the Functions host in the foreground,
              demo data seeded; Ctrl-C stops what this command started
    start     every service including the host in the background; returns once
              GET /api/health answers
    stop      stops the profile's Azurite, Web PubSub service and host
    status    what runs where
    tokens    the URLs and fresh development tokens of the demo people (host running)
    services  what each service is
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

from devstack.profiles import PROFILES
from devstack.services import ServiceError
from devstack.stack import SERVICE_ORDER, Stack


def _print_urls(stack: Stack) -> None:
    print(f"\nLectern ({stack.profile.name}) is up:")
    print("\n".join(stack.urls()))
    print(flush=True)


def _demo_people(stack: Stack, *, tokens_only: bool) -> str:
    """Seeds the demo data (or only mints tokens) through the API; what to show the user.

    The output is kept and printed last, after the URLs, so the tokens are the last thing on
    the screen once the stack is up rather than lines somewhere above the host's log.
    """
    if not (stack.repo / "shared_code" / "seed.py").is_file():
        return "· no shared_code/seed.py yet: no demo data"
    if not tokens_only:
        print("… seeding demo data", flush=True)
    result = subprocess.run(
        [sys.executable, "-m", "shared_code.seed", "--base-url", stack.base_url, *(["--tokens-only"] if tokens_only else [])],
        cwd=stack.repo, env={**os.environ, **stack.env()}, capture_output=True, text=True,
    )
    if result.returncode != 0:
        return f"! {'tokens' if tokens_only else 'seeding'} failed (exit code {result.returncode}): {result.stderr.strip()}"
    return result.stdout.rstrip()


def _print_ready(stack: Stack, people: str, *, foreground: bool) -> None:
    _print_urls(stack)
    print(people)
    print(f"\n`make tokens` prints these again{'; Ctrl-C stops what `make up` started' if foreground else ''}.\n", flush=True)


def cmd_up(stack: Stack) -> int:
    host = stack.services["host"]
    stack.start([name for name in SERVICE_ORDER if name != "host"])
    if host.running():
        print(f"✓ host     {host.address()} (already running in the background; `make stop` ends it)")
        _print_ready(stack, _demo_people(stack, tokens_only=False), foreground=False)
        return 0
    print(f"… host     {host.address()} starting in the foreground (Ctrl-C stops everything this command started)")
    # Same process group as this command, so Ctrl-C reaches the host directly as well.
    process = subprocess.Popen(host.command(), cwd=stack.repo, env=host.environment())
    interrupted = False
    try:
        deadline = time.monotonic() + 90
        while not host.ready():
            if process.poll() is not None:
                print(f"✗ host exited with code {process.returncode} while starting")
                return 1
            if time.monotonic() > deadline:
                print("✗ host did not become healthy within 90s (see its output above)")
                return 1
            time.sleep(0.2)
        print(f"✓ host     {host.address()} (healthy)")
        _print_ready(stack, _demo_people(stack, tokens_only=False), foreground=True)
        process.wait()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        print("\n… stopping what `up` started")
        stack.stop_started()
    return 0 if interrupted or process.returncode in (0, -signal.SIGINT) else process.returncode


def cmd_tokens(stack: Stack) -> int:
    if not stack.services["host"].running():
        print(f"✗ no host answers at {stack.base_url}: start the stack first (`make up` or `make start`)", file=sys.stderr)
        return 1
    _print_ready(stack, _demo_people(stack, tokens_only=True), foreground=False)
    return 0


def cmd_status(stack: Stack) -> int:
    print(f"profile {stack.profile.name} (state in {stack.state_dir})")
    for row in stack.status():
        notes = [f"pid {row.pid}" if row.pid else "", "shared" if row.shared else "", row.note]
        print(f"  {row.name:<8} {row.state:<11} {row.address:<34} {'  '.join(n for n in notes if n)}".rstrip())
    return 0


def cmd_services(stack: Stack) -> int:
    for name in SERVICE_ORDER:
        service = stack.services[name]
        print(f"  {name:<8} {service.address():<40} {service.description}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description="Start and stop Lectern's local services.")
    parser.add_argument("command", choices=("up", "start", "stop", "status", "tokens", "services"))
    parser.add_argument("--profile", choices=sorted(PROFILES), default="dev")
    parser.add_argument("--only", default=None, help=f"comma-separated subset of: {', '.join(SERVICE_ORDER)}")
    args = parser.parse_args(argv)
    stack = Stack(args.profile)
    only = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
    try:
        if args.command == "up":
            return cmd_up(stack)
        if args.command == "start":
            started = time.monotonic()
            stack.start(only)
            print(f"ready in {time.monotonic() - started:.1f}s")
            if only is None or "host" in only:
                _print_urls(stack)
            return 0
        if args.command == "stop":
            stack.stop(only)
            return 0
        if args.command == "status":
            return cmd_status(stack)
        if args.command == "tokens":
            return cmd_tokens(stack)
        return cmd_services(stack)
    except (ServiceError, ValueError) as exc:
        print(f"\n✗ {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
