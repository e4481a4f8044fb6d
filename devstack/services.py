"""Each local service: how to tell it is up, how to start it, how to stop it.

PostgreSQL and Redis are machine-wide servers shared by every profile: they are started
(or installed) when missing and never stopped here. When `POSTGRES_URL` / `REDIS_URL` in
the environment name a server, that server is used and never started or installed. Azurite,
the local Web PubSub service, the local payment provider stand-in and the Functions host
belong to a profile: they run from PID files under
`.stack/<profile>/`, log there, and `stop` ends them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from devstack import processes
from devstack.profiles import LOOPBACK, Profile


class ServiceError(RuntimeError):
    """A service could not be started; the message says why and what to look at."""


@dataclass
class StackContext:
    """What every service needs to know about the stack it is part of."""

    profile: Profile
    repo: Path
    state_dir: Path
    app_env: Callable[[], dict[str, str]]
    out: Callable[[str], None]
    python: str = sys.executable
    # Health checks the host may fail because the service behind them is not available.
    unavailable: set[str] = field(default_factory=set)


def _privileged(command: list[str]) -> list[str]:
    if os.geteuid() != 0 and shutil.which("sudo"):
        return ["sudo", "-n", *command]
    return command


def _run(command: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()[-2000:]
        raise ServiceError(f"`{' '.join(command)}` failed with exit code {result.returncode}:\n{output}")
    return result.stdout


def apt_install(packages: list[str], out: Callable[[str], None]) -> None:
    """Installs Debian packages (after `apt-get update`), as root or through sudo."""
    out(f"… installing {' '.join(packages)} with apt-get (first run only)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(_privileged(["apt-get", "update"]), env=env)
    _run(_privileged(["apt-get", "install", "-y", "--no-install-recommends", *packages]), env=env)


@dataclass(frozen=True)
class Foreign:
    """A process another checkout (or someone by hand) left on this profile's ports, and
    whether a test session of that checkout is still running on it."""

    pid: int | None
    directory: str | None
    in_use: bool

    def where(self) -> str:
        return f"pid {self.pid}, running in {self.directory}" if self.pid else "a process this user cannot see"


def _sessions_running(directory: Path, state_name: str) -> bool:
    """Whether the checkout a service runs in (its repository, or a folder inside its
    `.stack`) has a test session open on the profile (its folder `state_name` under
    `.stack`): a live PID among its leases."""
    parts = directory.parts
    checkout = Path(*parts[: parts.index(".stack")]) if ".stack" in parts else directory
    leases = checkout / ".stack" / state_name / "leases"
    if not leases.is_dir():
        return False
    return any(lease.name.isdigit() and processes.is_alive(int(lease.name)) for lease in leases.iterdir())


class Service:
    name = ""
    description = ""
    shared = False  # machine-wide: started when missing, never stopped by devstack
    marker = ""  # a word in the command line of the process devstack starts

    def __init__(self, ctx: StackContext) -> None:
        self.ctx = ctx

    @property
    def pid_file(self) -> Path:
        return self.ctx.state_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.ctx.state_dir / f"{self.name}.log"

    def address(self) -> str:
        raise NotImplementedError

    @property
    def port(self) -> int:
        """The port whose listener is this service (for services devstack starts)."""
        raise NotImplementedError

    def foreign(self) -> Foreign | None:
        """The process answering on this profile's ports when this checkout did not start it
        (None when it did, or when that does not matter here).

        A process this checkout started has its PID file here. One that answers without it
        came from elsewhere: another checkout of the repository whose stack outlived it, or
        a hand-started process. A profile that serves only its own processes never uses
        one, since its tests or benchmarks would run another checkout's code.
        """
        if self.shared or not self.marker or not self.ctx.profile.own_processes_only or self.pid() is not None:
            return None
        holder = processes.listener(self.port)
        if holder is None:
            return Foreign(None, None, in_use=True)  # nothing this user may look at or stop
        pid, directory = holder
        if Path(directory).resolve().is_relative_to(self.ctx.repo.resolve()):
            return None
        return Foreign(pid, directory, in_use=_sessions_running(Path(directory), self.ctx.state_dir.name))

    def available(self) -> str | None:
        """None when the service can run here; otherwise why it is skipped."""
        return None

    def running(self) -> bool:
        raise NotImplementedError

    def start(self) -> str:
        """Starts the service (it is not running); returns a short note for the progress line."""
        raise NotImplementedError

    def prepare(self) -> str | None:
        """Work after the service answers, whether or not it was just started."""
        return None

    def pid(self) -> int | None:
        return processes.read_pid(self.pid_file, self.marker) if self.marker else None

    def stop(self) -> bool:
        """Stops the process devstack started; False when there was none."""
        pid = self.pid()
        if pid is None:
            return False
        processes.terminate(pid)
        self.pid_file.unlink(missing_ok=True)
        return True

    def _wait(self, check: Callable[[], bool], timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if process is not None and process.poll() is not None:
                raise ServiceError(
                    f"{self.name} exited with code {process.returncode} while starting; "
                    f"last lines of {self.log_file}:\n{processes.log_tail(self.log_file)}"
                )
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"{self.name} did not come up within {timeout:.0f}s; last lines of {self.log_file}:\n"
                    f"{processes.log_tail(self.log_file)}"
                )
            time.sleep(0.1)


# What a fresh PostgreSQL install gets at the top of its pg_hba.conf (the README says so).
TRUST_LOOPBACK_RULES = "host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n"
_PREPEND_ONCE = (
    "import pathlib, sys\n"
    "path, rules = pathlib.Path(sys.argv[1]), sys.argv[2]\n"
    "text = path.read_text()\n"
    "if rules not in text:\n"
    "    path.write_text(rules + text)\n"
)


class Postgres(Service):
    name = "postgres"
    description = "PostgreSQL server (shared by all profiles)"
    shared = True

    def address(self) -> str:
        host, port = self.ctx.profile.postgres_endpoint
        return f"{host}:{port}"

    def running(self) -> bool:
        host, port = self.ctx.profile.postgres_endpoint
        return processes.port_open(port, host)

    def start(self) -> str:
        if self.ctx.profile.postgres_server is not None:
            raise ServiceError(
                f"PostgreSQL at {self.address()} (POSTGRES_URL) does not answer; devstack starts its own "
                "PostgreSQL only when POSTGRES_URL is not set"
            )
        fresh = False
        if not (Path("/etc/postgresql").is_dir() and shutil.which("pg_ctlcluster")):
            apt_install(["postgresql"], self.ctx.out)
            fresh = True
        versions = sorted(os.listdir("/etc/postgresql"), key=lambda v: [int(p) for p in v.split(".") if p.isdigit()])
        if not versions:
            raise ServiceError("PostgreSQL is installed but /etc/postgresql holds no cluster")
        version = versions[-1]
        if fresh:
            self._trust_local_tcp(Path("/etc/postgresql") / version / "main" / "pg_hba.conf", self.ctx.python)
            if self.running():
                # The package's install script may have started the cluster already: reread the rules.
                _run(_privileged(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "reload"]))
                return f"installed cluster {version}/main"
        _run(_privileged(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"]))
        self._wait(self.running, 30)
        return f"started cluster {version}/main"

    @staticmethod
    def _trust_local_tcp(hba: Path, python: str = sys.executable) -> None:
        """Puts the loopback trust rules at the top of pg_hba.conf (once).

        A fresh install asks for passwords over TCP; local development connects as the
        postgres user without one, from loopback only. The file belongs to the postgres
        user, so the edit runs as root (directly or through `sudo -n`), like the install.
        """
        _run(_privileged([python, "-c", _PREPEND_ONCE, str(hba), TRUST_LOOPBACK_RULES]))

    def prepare(self) -> str:
        # Imported here so `status` and `stop` work before the virtualenv has psycopg.
        import psycopg
        from psycopg import errors, sql

        profile = self.ctx.profile
        database = profile.postgres_database
        created = False
        try:
            with psycopg.connect(profile.postgres_admin_url, autocommit=True, connect_timeout=5) as conn:
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
                if not exists:
                    try:
                        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
                        created = True
                    except errors.DuplicateDatabase:
                        pass
        except psycopg.Error as exc:
            who = "as the user POSTGRES_URL names" if profile.postgres_server else "as postgres"
            raise ServiceError(f"cannot create or find database {database} on PostgreSQL at {self.address()} {who}: {exc}") from exc
        note = f"database {database}" + (" created" if created else "")
        if not (self.ctx.repo / "shared_code" / "migrations" / "__main__.py").is_file():
            return note + "; no migrations module yet"
        # On a new database this creates every table: say so rather than sit silent.
        self.ctx.out(f"… {self.name:<8} {self.address()} applying migrations to {database}")
        output = _run(
            [self.ctx.python, "-m", "shared_code.migrations"],
            cwd=self.ctx.repo,
            env={**os.environ, "POSTGRES_URL": profile.postgres_url},
            timeout=120,
        ).strip()
        return f"{note}; {output.splitlines()[-1] if output else 'migrations applied'}"


class Redis(Service):
    name = "redis"
    description = "Redis server (shared; dev uses db 0, test db 1, bench db 10)"
    shared = True

    def address(self) -> str:
        host, port = self.ctx.profile.redis_endpoint
        return f"{host}:{port} db {self.ctx.profile.redis_database}"

    def running(self) -> bool:
        host, port = self.ctx.profile.redis_endpoint
        if self.ctx.profile.redis_server is not None:
            # A server of the user's own may want a password or TLS: that it listens is enough here.
            return processes.port_open(port, host)
        try:
            with socket.create_connection((host, port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> str:
        if self.ctx.profile.redis_server is not None:
            raise ServiceError(
                f"Redis at {self.address()} (REDIS_URL) does not answer; devstack starts its own "
                "Redis only when REDIS_URL is not set"
            )
        if not shutil.which("redis-server"):
            apt_install(["redis-server"], self.ctx.out)
        self.ctx.state_dir.mkdir(parents=True, exist_ok=True)
        _run([
            "redis-server", "--daemonize", "yes", "--bind", LOOPBACK, "--port", str(self.ctx.profile.redis_port),
            "--save", "", "--appendonly", "no",
            "--pidfile", str(self.pid_file), "--logfile", str(self.log_file), "--dir", str(self.ctx.state_dir),
        ])
        self._wait(self.running, 15)
        return "started"


class Azurite(Service):
    name = "azurite"
    description = "Azurite: Blob, Queue and Table storage emulator"
    marker = "azurite"

    @property
    def ports(self) -> tuple[int, int, int]:
        p = self.ctx.profile
        return (p.blob_port, p.queue_port, p.table_port)

    @property
    def binary(self) -> Path:
        return self.ctx.repo / "node_modules" / ".bin" / "azurite"

    @property
    def port(self) -> int:
        return self.ctx.profile.blob_port

    def address(self) -> str:
        blob, queue, table = self.ports
        return f"{LOOPBACK}:{blob}/{queue}/{table}"

    def running(self) -> bool:
        open_ports = [processes.port_open(port) for port in self.ports]
        if any(open_ports) and not all(open_ports):
            # Give a starting emulator a moment before calling the ports half-taken.
            time.sleep(1)
            open_ports = [processes.port_open(port) for port in self.ports]
            if any(open_ports) and not all(open_ports):
                raise ServiceError(f"only some of the storage ports {self.address()} answer; another program holds them?")
        return all(open_ports)

    def start(self) -> str:
        if not self.binary.exists():
            self.ctx.out("… installing Azurite from package-lock.json (npm ci)")
            _run(["npm", "ci", "--no-audit", "--no-fund"], cwd=self.ctx.repo)
        blob, queue, table = self.ports
        command = [
            str(self.binary), "--skipApiVersionCheck", "--disableTelemetry",
            "--blobHost", LOOPBACK, "--queueHost", LOOPBACK, "--tableHost", LOOPBACK,
            "--blobPort", str(blob), "--queuePort", str(queue), "--tablePort", str(table),
        ]
        if self.ctx.profile.azurite_in_memory:
            command.append("--inMemoryPersistence")
        else:
            data = self.ctx.state_dir / "azurite"
            data.mkdir(parents=True, exist_ok=True)
            command += ["--location", str(data)]
        process = processes.spawn(command, log_file=self.log_file, pid_file=self.pid_file, cwd=self.ctx.state_dir)
        self._wait(lambda: all(processes.port_open(p) for p in self.ports), 30, process)
        origins = [o.strip() for o in self.ctx.app_env().get("LECTERN_CORS_ALLOWED_ORIGINS", "").split(",") if o.strip()]
        # The app's own origin too: its live page (/api/live/app) uploads and downloads from
        # there, and the test and bench profiles run the host on ports the allow-list lacks.
        own = urlsplit(self.ctx.profile.base_url)
        if f"{own.scheme}://{own.netloc}" not in origins:
            origins.append(f"{own.scheme}://{own.netloc}")
        apply_blob_cors(self.ctx.profile.storage_connection_string, origins)
        return f"started, pid {process.pid}" + (", in memory" if self.ctx.profile.azurite_in_memory else "")


# The blob CORS rule infra/bicep/modules/storage.bicep gives the storage account, so a
# browser PUTs uploads and GETs downloads with SAS URLs locally as it does in Azure.
BLOB_CORS_METHODS = ("GET", "HEAD", "PUT", "OPTIONS")
BLOB_CORS_HEADERS = (
    "content-type", "content-length", "x-ms-blob-type", "x-ms-blob-content-type",
    "x-ms-client-request-id", "x-ms-date", "x-ms-version",
)
BLOB_CORS_EXPOSED = ("etag", "content-length", "x-ms-request-id")


def apply_blob_cors(connection_string: str, origins: list[str]) -> None:
    """Sets the blob service's CORS rule for `origins` (none: no rule, as in Bicep)."""
    # Imported here: `python -m devstack status` and `stop` should not load the Storage SDK.
    from azure.storage.blob import BlobServiceClient, CorsRule

    rules = [CorsRule(
        allowed_origins=origins, allowed_methods=list(BLOB_CORS_METHODS), allowed_headers=list(BLOB_CORS_HEADERS),
        exposed_headers=list(BLOB_CORS_EXPOSED), max_age_in_seconds=3600,
    )] if origins else []
    with BlobServiceClient.from_connection_string(connection_string) as service:
        service.set_service_properties(cors=rules)


class WebPubSub(Service):
    name = "pubsub"
    description = "local Web PubSub service (localpubsub)"
    marker = "localpubsub"

    def address(self) -> str:
        return self.ctx.profile.pubsub_url

    @property
    def port(self) -> int:
        return self.ctx.profile.pubsub_port

    def available(self) -> str | None:
        if not (self.ctx.repo / "localpubsub" / "__main__.py").is_file():
            return "localpubsub/ has no __main__.py yet"
        return None

    def running(self) -> bool:
        return processes.http_status(f"{self.ctx.profile.pubsub_url}/api/health", timeout=1) == 200

    def start(self) -> str:
        profile = self.ctx.profile
        access_key = access_key_of(self.ctx.app_env())
        command = [
            self.ctx.python, "-m", "localpubsub", "--port", str(profile.pubsub_port),
            "--upstream-url", profile.upstream_url, "--access-key", access_key,
        ]
        process = processes.spawn(command, log_file=self.log_file, pid_file=self.pid_file, cwd=self.ctx.repo)
        self._wait(self.running, 30, process)
        return f"started, pid {process.pid}"


class LocalPay(Service):
    name = "pay"
    description = "local payment provider stand-in (localpay): Stripe and Razorpay APIs"
    marker = "localpay"

    def address(self) -> str:
        return self.ctx.profile.pay_url

    @property
    def port(self) -> int:
        return self.ctx.profile.pay_port

    def available(self) -> str | None:
        if not (self.ctx.repo / "localpay" / "__main__.py").is_file():
            return "localpay/ has no __main__.py yet"
        return None

    def running(self) -> bool:
        return processes.http_status(f"{self.ctx.profile.pay_url}/health", timeout=1) == 200

    def start(self) -> str:
        profile, app = self.ctx.profile, self.ctx.app_env()
        command = [
            self.ctx.python, "-m", "localpay", "--port", str(profile.pay_port),
            "--stripe-webhook-url", f"{profile.base_url}/payments/webhook",
            "--razorpay-webhook-url", f"{profile.base_url}/payments/razorpay/webhook",
        ]
        # Secrets travel in the environment, not the command line other users can read.
        env = {
            **os.environ,
            "LOCALPAY_STRIPE_WEBHOOK_SECRET": app.get("PAYMENT_WEBHOOK_SECRETS", "").split(",")[0].strip(),
            "LOCALPAY_RAZORPAY_WEBHOOK_SECRET": app.get("RAZORPAY_WEBHOOK_SECRETS", "").split(",")[0].strip(),
            "LOCALPAY_LIVEMODE": app.get("STRIPE_LIVEMODE", "false"),
        }
        process = processes.spawn(command, log_file=self.log_file, pid_file=self.pid_file, cwd=self.ctx.repo, env=env)
        self._wait(self.running, 30, process)
        return f"started, pid {process.pid}"


# Which service each check of the app's /api/health depends on.
HEALTH_CHECK_SERVICES = {
    "postgres": "postgres",
    "redis": "redis",
    "tables": "azurite",
    "blobs": "azurite",
    "queues": "azurite",
    "webpubsub": "pubsub",
}


class FunctionsHost(Service):
    name = "host"
    description = "local Functions host (python -m devhost) serving function_app.py"
    marker = "devhost"

    def address(self) -> str:
        return self.ctx.profile.base_url

    @property
    def port(self) -> int:
        return self.ctx.profile.host_port

    def running(self) -> bool:
        return processes.http_status(self.ctx.profile.health_url, timeout=5) is not None

    def ready(self) -> bool:
        """Health answers 200, or fails only checks of services known to be unavailable."""
        status, body = processes.http_body(self.ctx.profile.health_url, timeout=10)
        if status == 200:
            return True
        if status != 503:
            return False
        try:
            checks = json.loads(body).get("checks", {})
        except (ValueError, AttributeError):
            return False
        failing = {HEALTH_CHECK_SERVICES.get(name, name) for name, state in checks.items() if state != "ok"}
        return bool(failing) and failing <= self.ctx.unavailable

    def prepare(self) -> None:
        # A host that answers may still be starting (another terminal's `start`): wait for it.
        self._wait(self.ready, 90)

    def command(self) -> list[str]:
        return [self.ctx.python, "-m", "devhost", "--app-dir", str(self.ctx.repo), "--port", str(self.ctx.profile.host_port)]

    def environment(self) -> dict[str, str]:
        # Only the profile's overrides: the host reads everything else from local.settings itself.
        profile = self.ctx.profile
        return {**os.environ, **profile.app_overrides(access_key_of(self.ctx.app_env()))}

    def start(self) -> str:
        process = processes.spawn(
            self.command(), log_file=self.log_file, pid_file=self.pid_file, cwd=self.ctx.repo, env=self.environment()
        )
        started = time.monotonic()
        self._wait(self.ready, 90, process)
        return f"started, pid {process.pid}, healthy after {time.monotonic() - started:.1f}s"


def access_key_of(app_env: dict[str, str]) -> str:
    """The Web PubSub access key from the app's connection string."""
    for part in app_env.get("WebPubSubConnectionString", "").split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() == "accesskey":
            return value.strip()
    raise ServiceError("WebPubSubConnectionString in local.settings has no AccessKey")


SERVICE_TYPES: tuple[type[Service], ...] = (Postgres, Redis, Azurite, WebPubSub, LocalPay, FunctionsHost)
