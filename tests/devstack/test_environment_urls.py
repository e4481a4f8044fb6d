"""POSTGRES_URL / REDIS_URL already set in the environment: devstack and the app use them.

A newcomer whose PostgreSQL or Redis lives elsewhere (another port, a password, another
machine) sets the two variables; `make up` must then neither override them with the
profile's defaults nor start or install a server of its own at 127.0.0.1.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import psycopg
import pytest
from psycopg import sql

from devstack import processes
from devstack.profiles import PROFILES
from devstack.services import TRUST_LOOPBACK_RULES, Postgres, ServiceError
from devstack.stack import Stack
from tests.support.redis_server import RedisServer, free_port


def quiet_stack(profile="dev", lines: list[str] | None = None) -> Stack:
    return Stack(profile, out=(lines.append if lines is not None else (lambda line: None)))


@pytest.mark.unit
def test_the_dev_app_gets_the_postgres_and_redis_urls_already_in_the_environment(monkeypatch):
    monkeypatch.setenv("POSTGRES_URL", "postgresql://lectern:secret@db.internal:6543/course_data")
    monkeypatch.setenv("REDIS_URL", "rediss://:secret@cache.internal:6390/4")
    stack = quiet_stack("dev")

    for env in (stack.env(), stack.services["host"].environment()):
        assert env["POSTGRES_URL"] == "postgresql://lectern:secret@db.internal:6543/course_data"
        assert env["REDIS_URL"] == "rediss://:secret@cache.internal:6390/4"
    assert stack.services["postgres"].address() == "db.internal:6543"
    assert stack.services["redis"].address() == "cache.internal:6390 db 4"
    assert "secret" not in "\n".join(stack.urls()), "printed URLs hide the password"


@pytest.mark.unit
def test_test_and_bench_runs_keep_their_own_database_on_the_server_the_environment_names(monkeypatch):
    # A test run or a benchmark must not write into the data the developer's URL points at.
    monkeypatch.setenv("POSTGRES_URL", "postgresql://lectern:secret@db.internal:6543/course_data")
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6390/4")
    for name in ("test", "bench"):
        profile = PROFILES[name]
        env = quiet_stack(name).env()
        assert env["POSTGRES_URL"] == f"postgresql://lectern:secret@db.internal:6543/{profile.database}"
        assert env["REDIS_URL"] == f"redis://cache.internal:6390/{profile.redis_db}"


def test_devstack_prepares_the_database_postgres_url_names(monkeypatch):
    database = f"lectern_envurl_{uuid.uuid4().hex[:8]}"
    url = f"postgresql://postgres@127.0.0.1:5432/{database}"
    monkeypatch.setenv("POSTGRES_URL", url)
    lines: list[str] = []
    dev = quiet_stack("dev", lines)
    try:
        assert dev.start(["postgres"]) == []  # the server answers: nothing started
        with psycopg.connect(url, connect_timeout=5) as conn:
            tables = {row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert {"users", "courses"} <= tables, "the migrations ran on the database the URL names"
        assert any(f"database {database} created" in line for line in lines), lines
    finally:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))


def test_devstack_uses_the_redis_redis_url_names_and_starts_none_at_the_default_address(monkeypatch):
    server = RedisServer()
    server.start()
    try:
        monkeypatch.setenv("REDIS_URL", server.url)
        # The profile's default address has nothing listening: devstack must not fill it.
        default_port = free_port()
        lines: list[str] = []
        profile = replace(PROFILES["test"], redis_port=default_port)
        stack = Stack(profile, out=lines.append)
        assert stack.start(["redis"]) == []
        assert lines == [f"✓ redis    127.0.0.1:{server.port} db {profile.redis_db} (already running)"]
        assert not processes.port_open(default_port)
    finally:
        server.kill()


@pytest.mark.parametrize("service", ["postgres", "redis"])
def test_a_server_the_environment_names_that_is_down_is_reported_not_replaced(monkeypatch, service):
    down = free_port()
    monkeypatch.setenv("POSTGRES_URL", f"postgresql://postgres@127.0.0.1:{down}/lectern")
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{down}/0")
    lines: list[str] = []
    stack = Stack("test", out=lines.append)
    variable = f"{service.upper()}_URL"
    with pytest.raises(ServiceError, match=f"\\({variable}\\) does not answer; devstack starts its own"):
        stack.start([service])
    assert not processes.port_open(down)
    assert not any("installing" in line for line in lines)


@pytest.mark.unit
def test_a_fresh_postgresql_gets_the_loopback_trust_rules_at_the_top_of_pg_hba_once(tmp_path):
    hba = tmp_path / "pg_hba.conf"
    hba.write_text("local all postgres peer\nhost all all 127.0.0.1/32 scram-sha-256\n")
    Postgres._trust_local_tcp(hba)
    Postgres._trust_local_tcp(hba)  # a second run changes nothing
    assert hba.read_text() == TRUST_LOOPBACK_RULES + "local all postgres peer\nhost all all 127.0.0.1/32 scram-sha-256\n"
