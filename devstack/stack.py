"""A profile's whole stack: start what is not running, stop what it started, report status.

    stack = Stack("test")
    stack.start()                      # every service, host last; safe to call twice
    stack.stop_service("azurite")      # fault tests stop and restart single services
    stack.start_service("azurite")
    os.environ.update(stack.env())     # the settings the app runs with
    stack.stop_started()               # only what this object started
    stack.open_session() / stack.close_session()   # test sessions that may overlap

Every check looks at the port or health URL first, so a service someone else started
(another terminal's `make start`, a system PostgreSQL) is used, not started twice.
"""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devhost.settings_file import load_settings
from devstack import processes
from devstack.profiles import PROFILES, REPO, Profile, redacted
from devstack.services import SERVICE_TYPES, Service, ServiceError, StackContext, access_key_of

SERVICE_ORDER = tuple(t.name for t in SERVICE_TYPES)


def _print(line: str) -> None:
    print(line, flush=True)


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str  # "running", "stopped" or "unavailable"
    address: str
    pid: int | None
    shared: bool
    note: str = ""


class Stack:
    def __init__(self, profile: str | Profile = "dev", *, repo: Path = REPO, out: Callable[[str], None] = _print) -> None:
        # POSTGRES_URL / REDIS_URL already in the environment win over the profile's defaults.
        self.profile = (PROFILES[profile] if isinstance(profile, str) else profile).with_environment(os.environ)
        self.repo = repo
        self.state_dir = self.profile.state_dir(repo)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.started: list[str] = []
        self._in_session = False
        self._settings: dict[str, str] | None = None
        self.ctx = StackContext(
            profile=self.profile,
            repo=repo,
            state_dir=self.state_dir,
            app_env=self.env,
            out=out,
            python=sys.executable,
        )
        self.services: dict[str, Service] = {t.name: t(self.ctx) for t in SERVICE_TYPES}

    # --- what the app gets ---------------------------------------------------------

    def local_settings(self) -> dict[str, str]:
        if self._settings is None:
            self._settings = load_settings(self.repo).values
        return self._settings

    def env(self) -> dict[str, str]:
        """The environment the app runs with in this profile: local settings plus overrides.

        POSTGRES_URL / REDIS_URL set in this process's environment are part of the profile
        (`Profile.with_environment`), so they reach the app rather than being overridden.
        """
        values = dict(self.local_settings())
        values.update(self.profile.app_overrides(access_key_of(values)))
        return values

    @property
    def base_url(self) -> str:
        return self.profile.base_url

    @property
    def storage_connection_string(self) -> str:
        return self.profile.storage_connection_string

    @property
    def pubsub_connection_string(self) -> str:
        return self.env()["WebPubSubConnectionString"]

    @property
    def postgres_url(self) -> str:
        return self.profile.postgres_url

    @property
    def redis_url(self) -> str:
        return self.profile.redis_url

    # --- starting and stopping ------------------------------------------------------

    def _names(self, services: Iterable[str] | None) -> list[str]:
        wanted = list(SERVICE_ORDER) if services is None else list(services)
        unknown = [name for name in wanted if name not in self.services]
        if unknown:
            raise ValueError(f"unknown service(s) {', '.join(unknown)}; known: {', '.join(SERVICE_ORDER)}")
        return [name for name in SERVICE_ORDER if name in wanted]

    def start(self, services: Iterable[str] | None = None) -> list[str]:
        """Starts the named services (all by default) that are not running, in order."""
        started = []
        for name in self._names(services):
            if self.start_service(name):
                started.append(name)
        return started

    @contextmanager
    def _locked(self) -> Iterator[None]:
        # Two processes (two terminals, two test sessions) must not both start one service.
        with open(self.state_dir / "lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def start_service(self, name: str) -> bool:
        """Starts one service unless it already runs; True when this call started it."""
        with self._locked():
            return self._start_service(name)

    def _start_service(self, name: str) -> bool:
        service = self.services[name]
        label = f"{name:<8} {service.address()}"
        why_not = service.available()
        if why_not:
            self.ctx.unavailable.add(name)
            self.out(f"! {label} skipped: {why_not}")
            return False
        self.ctx.unavailable.discard(name)
        started = False
        running = service.running()
        foreign = service.foreign() if running else None
        if foreign is not None:
            if foreign.in_use or foreign.pid is None:
                self.out(f"✗ {label} not this checkout's")
                raise ServiceError(
                    f"{name} answers at {service.address()} but this checkout did not start it ({foreign.where()}), "
                    f"and a test session of that checkout is using it; the {self.profile.name} profile runs only "
                    f"its own processes. Let that run finish, or stop it (`python -m devstack stop --profile "
                    f"{self.profile.name}` in its checkout), then run this again"
                )
            # Left over: no session of its checkout runs; it would serve another checkout's code.
            self.out(f"… {label} left running by another checkout ({foreign.where()}); stopping it")
            processes.terminate(foreign.pid)
            if not processes.wait_until(lambda: not service.running(), 15):
                raise ServiceError(f"{name} at {service.address()} ({foreign.where()}) did not stop")
            running = False
        if running:
            note = "already running"
        else:
            self.out(f"… {label} starting")
            try:
                note = service.start()
            except ServiceError:
                self.out(f"✗ {label} failed to start")
                raise
            started = True
            if not service.shared:
                self.started.append(name)
                if self._in_session:
                    self._marker(name).touch()
        extra = service.prepare()
        self.out(f"✓ {label} ({note}{'; ' + extra if extra else ''})")
        return started

    def stop_service(self, name: str) -> bool:
        """Stops one service devstack started (shared servers are never stopped)."""
        service = self.services[name]
        if service.shared:
            self.out(f"· {name:<8} {service.address()} left running (shared by every profile)")
            return False
        stopped = service.stop()
        if name in self.started:
            self.started.remove(name)
        self.out(f"{'✓' if stopped else '·'} {name:<8} {'stopped' if stopped else 'was not running from devstack'}")
        return stopped

    def stop(self, services: Iterable[str] | None = None) -> list[str]:
        """Stops the named services (all by default) in reverse start order."""
        names = [n for n in reversed(self._names(services)) if not self.services[n].shared]
        return [name for name in names if self.stop_service(name)]

    def stop_started(self) -> list[str]:
        """Stops only what this object started, newest first."""
        return [name for name in reversed(list(self.started)) if self.stop_service(name)]

    # --- test sessions sharing one profile ------------------------------------------

    def _marker(self, name: str) -> Path:
        return self.state_dir / f"{name}.session"

    @property
    def _leases(self) -> Path:
        return self.state_dir / "leases"

    def open_session(self) -> None:
        """Registers this process as a user of the profile (a test session).

        Sessions may overlap (two terminals running tests): a service one session started
        is stopped only when the last session closes, never under another one's feet.
        """
        self._leases.mkdir(exist_ok=True)
        (self._leases / str(os.getpid())).touch()
        self._in_session = True

    def close_session(self, keep: bool = False) -> list[str]:
        """Leaves the profile; the last session out stops what sessions started (unless `keep`)."""
        self._in_session = False
        with self._locked():
            (self._leases / str(os.getpid())).unlink(missing_ok=True)
            others = [lease for lease in self._leases.iterdir() if processes.is_alive(int(lease.name))]
            if others:
                self.out(f"· services left running for {len(others)} other session(s)")
                return []
            for stale in self._leases.iterdir():
                stale.unlink(missing_ok=True)
            names = [n for n in reversed(SERVICE_ORDER) if self._marker(n).exists()]
            for name in names:
                self._marker(name).unlink(missing_ok=True)
            if keep:
                return []
            return [name for name in names if self.stop_service(name)]

    # --- reporting -----------------------------------------------------------------

    def status(self) -> list[ServiceStatus]:
        rows = []
        for name in SERVICE_ORDER:
            service = self.services[name]
            why_not = service.available()
            if why_not:
                state = "unavailable"
            else:
                state = "running" if service.running() else "stopped"
            rows.append(ServiceStatus(name, state, service.address(), service.pid(), service.shared, why_not or ""))
        return rows

    def urls(self) -> list[str]:
        p = self.profile
        return [
            f"  API          {p.base_url}   (health {p.base_url}/health, OpenAPI {p.base_url}/openapi.json)",
            f"  Web PubSub   {p.pubsub_url}   (events go to {p.upstream_url})",
            f"  Storage      Azurite blob {p.blob_port}, queue {p.queue_port}, table {p.table_port} on 127.0.0.1",
            f"  PostgreSQL   {redacted(p.postgres_url)}",
            f"  Redis        {redacted(p.redis_url)}",
            f"  Logs         {self.state_dir.relative_to(self.repo) if self.state_dir.is_relative_to(self.repo) else self.state_dir}/*.log",
        ]
