"""The two local profiles: where each service listens and what environment the app gets.

`dev` is what `make up` / `make start` run: the host on 7071, the standard emulator ports.
`test` is what the test suite runs: its own ports (host 7171, Azurite 10100-10102, Web
PubSub 8180, payment stand-in 12211; dev's is 12111), its own database and Redis db, so
a running dev stack and a test run do not disturb each other. PostgreSQL and Redis
servers are shared by both.

`LECTERN_TEST_SLOT=N` (1 to 8) moves the test profile to ports and stores of its own
(host 7171+N, Web PubSub 8180+N, payment stand-in 12211+N, Azurite 10100+10N..,
database lectern_test_N, Redis db 1+N, state in `.stack/test-N/`), so test runs of two
checkouts of the repository, or two slots of one checkout, can run side by side.

`bench` is what `make bench` runs: ports, a database and a Redis db of its own again, so a
benchmark never restarts the dev stack's processes or writes into its data.

`POSTGRES_URL` / `REDIS_URL` set in the environment name the PostgreSQL and Redis servers
to use instead of the shared ones on 127.0.0.1 (devstack then never starts or installs
them). The dev profile takes those URLs as they are; test and bench keep their own
database and Redis db on the server the URL names, so a test run or a benchmark never
writes into the data the URL points at.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

from devhost.connections import azurite_connection_string

REPO = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Profile:
    name: str
    lectern_env: str
    host_port: int
    pubsub_port: int
    blob_port: int
    queue_port: int
    table_port: int
    azurite_in_memory: bool
    database: str
    redis_db: int
    postgres_port: int = 5432
    redis_port: int = 6379
    # The dev profile uses POSTGRES_URL / REDIS_URL from the environment as they are; the
    # others only take the server from them and keep their own database and Redis db.
    keeps_own_database: bool = True
    # App settings of this profile alone (the bench raises the per-person limits that a
    # load generator speaking for thousands of students from one machine would hit).
    settings: tuple[tuple[str, str], ...] = ()
    # POSTGRES_URL / REDIS_URL from the environment, when set (`with_environment`).
    postgres_server: str | None = None
    redis_server: str | None = None

    def with_environment(self, environ: Mapping[str, str]) -> Profile:
        """This profile on the servers `POSTGRES_URL` / `REDIS_URL` name, when they are set."""
        return replace(
            self,
            postgres_server=environ.get("POSTGRES_URL", "").strip() or self.postgres_server,
            redis_server=environ.get("REDIS_URL", "").strip() or self.redis_server,
        )
    # The local payment provider stand-in (localpay/): Stripe's and Razorpay's APIs.
    pay_port: int = 12111
    # Only processes this checkout started serve this profile: a test run or a benchmark
    # that found another checkout's host on its ports would test or measure that code.
    # The dev profile takes whatever answers (`func start` on 7071 is the documented path).
    own_processes_only: bool = True
    # The folder under `.stack/` (the profile's name unless a test slot gives it its own).
    state_name: str = ""

    def state_dir(self, repo: Path = REPO) -> Path:
        """PID files, leases, logs and (dev) Azurite data: `.stack/<profile>/`, gitignored;
        `.stack/test-<N>/` for test slot N, so two slots of one checkout run side by side
        without one stopping the other's services."""
        return repo / ".stack" / (self.state_name or self.name)

    @property
    def host_url(self) -> str:
        return f"http://{LOOPBACK}:{self.host_port}"

    @property
    def base_url(self) -> str:
        return f"{self.host_url}/api"

    @property
    def health_url(self) -> str:
        return f"{self.base_url}/health"

    @property
    def pubsub_url(self) -> str:
        return f"http://{LOOPBACK}:{self.pubsub_port}"

    @property
    def upstream_url(self) -> str:
        """Where the local Web PubSub service sends events: the app's event handler."""
        return f"{self.base_url}/webpubsub/events"

    @property
    def postgres_url(self) -> str:
        if self.postgres_server is None:
            return f"postgresql://postgres@{LOOPBACK}:{self.postgres_port}/{self.database}"
        if not self.keeps_own_database:
            return self.postgres_server
        return _with_path(self.postgres_server, "POSTGRES_URL", ("postgresql", "postgres"), self.database)

    @property
    def postgres_admin_url(self) -> str:
        """The same server's `postgres` database, where databases are created."""
        if self.postgres_server is None:
            return f"postgresql://postgres@{LOOPBACK}:{self.postgres_port}/postgres"
        return _with_path(self.postgres_server, "POSTGRES_URL", ("postgresql", "postgres"), "postgres")

    @property
    def postgres_endpoint(self) -> tuple[str, int]:
        if self.postgres_server is None:
            return LOOPBACK, self.postgres_port
        return _endpoint(self.postgres_server, "POSTGRES_URL", ("postgresql", "postgres"), 5432)

    @property
    def postgres_database(self) -> str:
        return urlsplit(self.postgres_url).path.lstrip("/") or "postgres"

    @property
    def redis_url(self) -> str:
        if self.redis_server is None:
            return f"redis://{LOOPBACK}:{self.redis_port}/{self.redis_db}"
        if not self.keeps_own_database:
            return self.redis_server
        return _with_path(self.redis_server, "REDIS_URL", ("redis", "rediss"), str(self.redis_db))

    @property
    def redis_endpoint(self) -> tuple[str, int]:
        if self.redis_server is None:
            return LOOPBACK, self.redis_port
        return _endpoint(self.redis_server, "REDIS_URL", ("redis", "rediss"), 6379)

    @property
    def redis_database(self) -> int:
        path = urlsplit(self.redis_url).path.lstrip("/")
        return int(path) if path.isdigit() else 0

    @property
    def storage_connection_string(self) -> str:
        return azurite_connection_string(self.blob_port, self.queue_port, self.table_port, LOOPBACK)

    @property
    def pay_url(self) -> str:
        return f"http://{LOOPBACK}:{self.pay_port}"

    def pubsub_connection_string(self, access_key: str) -> str:
        return f"Endpoint=http://{LOOPBACK};Port={self.pubsub_port};AccessKey={access_key};Version=1.0;"

    def app_overrides(self, access_key: str) -> dict[str, str]:
        """Settings that differ from local.settings: every address the profile moves."""
        return {
            "POSTGRES_URL": self.postgres_url,
            "REDIS_URL": self.redis_url,
            "AzureWebJobsStorage": self.storage_connection_string,
            "WebPubSubConnectionString": self.pubsub_connection_string(access_key),
            "LECTERN_ENV": self.lectern_env,
            "LECTERN_PUBLIC_BASE_URL": self.host_url,
            "STRIPE_API_BASE": self.pay_url,
            "RAZORPAY_API_BASE": self.pay_url,
            **dict(self.settings),
        }


def _parsed(url: str, variable: str, schemes: tuple[str, ...]) -> SplitResult:
    parts = urlsplit(url)
    if parts.scheme not in schemes:
        raise ValueError(f"{variable} must be a URL such as {schemes[0]}://user@host:port/..., not {redacted(url)!r}")
    return parts


def _with_path(url: str, variable: str, schemes: tuple[str, ...], path: str) -> str:
    """`url` with its path (the database, or the Redis db number) replaced."""
    return _parsed(url, variable, schemes)._replace(path=f"/{path}").geturl()


def _endpoint(url: str, variable: str, schemes: tuple[str, ...], default_port: int) -> tuple[str, int]:
    parts = _parsed(url, variable, schemes)
    return parts.hostname or LOOPBACK, parts.port or default_port


def redacted(url: str) -> str:
    """A URL fit to print: its password replaced by ***."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


PROFILES: dict[str, Profile] = {
    "dev": Profile(
        name="dev",
        lectern_env="development",
        host_port=7071,
        pubsub_port=8080,
        blob_port=10000,
        queue_port=10001,
        table_port=10002,
        azurite_in_memory=False,
        database="lectern",
        redis_db=0,
        keeps_own_database=False,
        own_processes_only=False,
    ),
    "test": Profile(
        name="test",
        lectern_env="test",
        host_port=7171,
        pubsub_port=8180,
        blob_port=10100,
        queue_port=10101,
        table_port=10102,
        azurite_in_memory=True,
        database="lectern_test",
        redis_db=1,
        pay_port=12211,
    ),
    # Above the test profile's slots (host 7172-7179, Azurite up to 10182, Redis db up to 9);
    # the benchmarks' own scratch stores use Redis dbs 11 to 15.
    "bench": Profile(
        name="bench",
        lectern_env="development",
        host_port=7271,
        pubsub_port=8280,
        blob_port=10200,
        queue_port=10201,
        table_port=10202,
        azurite_in_memory=True,
        database="lectern_bench",
        redis_db=10,
        pay_port=12311,
        settings=(
            # One local Web PubSub service has no unit limit; the benchmark classes reach 5,000.
            ("LECTERN_LIVE_MAX_CONNECTIONS_PER_CLASS", "100000"),
            ("LECTERN_RATE_HEARTBEATS_PER_MINUTE", "100000000"),
            ("LECTERN_RATE_READS_PER_MINUTE", "100000000"),
            ("LECTERN_RATE_READS_PER_IP_PER_MINUTE", "100000000"),
        ),
    ),
}


def _test_slot() -> int:
    raw = os.environ.get("LECTERN_TEST_SLOT", "").strip()
    if not raw:
        return 0
    slot = int(raw)
    if not 0 <= slot <= 8:
        raise ValueError("LECTERN_TEST_SLOT is a number from 0 to 8")
    return slot


def _slotted(profile: Profile, slot: int) -> Profile:
    if slot == 0:
        return profile
    return replace(
        profile,
        host_port=profile.host_port + slot,
        pubsub_port=profile.pubsub_port + slot,
        blob_port=profile.blob_port + 10 * slot,
        queue_port=profile.queue_port + 10 * slot,
        table_port=profile.table_port + 10 * slot,
        database=f"{profile.database}_{slot}",
        redis_db=profile.redis_db + slot,
        pay_port=profile.pay_port + slot,
        state_name=f"{profile.name}-{slot}",
    )


PROFILES["test"] = _slotted(PROFILES["test"], _test_slot())
