"""LECTERN_AUTH_MODE=identity: the adapters sign in with Entra tokens instead of keys.

In Azure the token comes from the function app's managed identity. Here a credential that
hands out a token of the test's choosing stands in for Entra, and the stores check it for
real: a PostgreSQL cluster the test owns with password (SCRAM) authentication for the app's
role, and a redis-server the test owns with an ACL user named like the identity's object id.
A wrong token is refused by the server itself.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
import redis.asyncio as aioredis
from azure.core.credentials import AccessToken
from azure.data.tables.aio import TableServiceClient
from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.queue.aio import QueueServiceClient
from redis.exceptions import AuthenticationError

from shared_code.adapters import identity
from shared_code.adapters.blobs import BlobStore
from shared_code.adapters.postgres.pool import Database
from shared_code.adapters.queues import QueueStore
from shared_code.adapters.redis.client import create_redis
from shared_code.adapters.storage_account import StorageAccount
from shared_code.adapters.tables import TableStore
from shared_code.adapters.webpubsub import PubSub
from shared_code.settings import AZURITE_KEY, Settings
from tests.support.postgres_server import PostgresServer
from tests.support.redis_server import RedisServer

APP_ROLE = "lectern_app"
# What the identity's object id looks like: Entra names Redis users by it.
OBJECT_ID = "5f1c2a9e-0d1b-4c8e-9a57-3c0e2b7d4a10"


class IssuedToken:
    """An AsyncTokenCredential whose tokens are a fixed string, valid for an hour; it notes
    every scope asked for."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.scopes: list[str] = []

    async def get_token(self, *scopes: str, **_: object) -> AccessToken:
        self.scopes.extend(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)

    async def close(self) -> None:
        pass


def _settings(**values: object) -> Settings:
    return Settings(environment="test", auth_mode="identity", **values)


@pytest.fixture(scope="module")
def scram_postgres() -> Iterator[PostgresServer]:
    """A cluster where `postgres` (the test) is trusted and every other role must present
    its password, as Azure Database for PostgreSQL requires the token for Entra roles."""
    server = PostgresServer()
    server.init()
    with open(os.path.join(server.data, "pg_hba.conf"), "w") as hba:
        hba.write("local all all trust\n")
        hba.write("host all postgres 127.0.0.1/32 trust\n")
        hba.write("host all all 127.0.0.1/32 scram-sha-256\n")
    server.start()
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{server.port}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {APP_ROLE} LOGIN PASSWORD 'entra-token-for-postgres'")
    yield server
    server.remove()


@pytest.fixture
def acl_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.kill()


@pytest.fixture
async def redis_admin(acl_redis: RedisServer) -> AsyncIterator[aioredis.Redis]:
    admin = aioredis.Redis.from_url(acl_redis.url, decode_responses=True)
    await admin.execute_command("ACL", "SETUSER", OBJECT_ID, "on", ">entra-token-for-redis", "~*", "&*", "+@all")
    yield admin
    await admin.aclose()


async def test_app_signs_in_to_postgresql_with_a_token_of_its_identity(scram_postgres: PostgresServer) -> None:
    credential = IssuedToken("entra-token-for-postgres")
    settings = _settings(postgres_url=f"postgresql://{APP_ROLE}@127.0.0.1:{scram_postgres.port}/postgres", postgres_pool_max=2)
    db = Database(settings, credential=credential)
    await db.open()
    try:
        async with db.connection() as conn:
            row = await (await conn.execute("SELECT current_user AS who")).fetchone()
        assert row["who"] == APP_ROLE
        assert credential.scopes and set(credential.scopes) == {identity.POSTGRES_SCOPE}
    finally:
        await db.close()


async def test_postgresql_refuses_the_app_when_its_token_is_not_the_identitys(scram_postgres: PostgresServer) -> None:
    settings = _settings(postgres_url=f"postgresql://{APP_ROLE}@127.0.0.1:{scram_postgres.port}/postgres", postgres_pool_max=1)
    db = Database(settings, credential=IssuedToken("someone-elses-token"))
    await db.open()
    try:
        with pytest.raises(Exception) as refused:
            async with db.connection() as conn:
                await conn.execute("SELECT 1")
        assert "password authentication failed" in str(refused.value) or "couldn't get a connection" in str(refused.value)
    finally:
        await db.close()


async def test_app_signs_in_to_redis_as_its_object_id_with_a_token(acl_redis: RedisServer, redis_admin: aioredis.Redis) -> None:
    credential = IssuedToken("entra-token-for-redis")
    client = create_redis(_settings(redis_url=f"redis://{OBJECT_ID}@127.0.0.1:{acl_redis.port}/0"), credential=credential)
    try:
        assert await client.execute_command("ACL", "WHOAMI") == OBJECT_ID
        await client.set("lectern:identity-check", "1", ex=10)
        assert set(credential.scopes) == {identity.REDIS_SCOPE}
    finally:
        await client.aclose()


async def test_redis_refuses_the_app_when_its_token_is_not_the_identitys(acl_redis: RedisServer, redis_admin: aioredis.Redis) -> None:
    client = create_redis(_settings(redis_url=f"redis://{OBJECT_ID}@127.0.0.1:{acl_redis.port}/0"), credential=IssuedToken("stale"))
    try:
        with pytest.raises(AuthenticationError):
            await client.ping()
    finally:
        await client.aclose()


def test_identity_mode_needs_the_object_id_in_the_redis_url() -> None:
    with pytest.raises(ValueError, match="object id"):
        create_redis(_settings(redis_url="rediss://amr-example.westeurope.redis.azure.net:10000/0"), credential=IssuedToken("t"))


async def test_storage_and_web_pubsub_clients_take_the_process_identity_never_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    credential = IssuedToken("entra-token-for-storage")
    monkeypatch.setattr(identity, "_credential", credential)
    # A connection string with a key is present (as it might be by mistake); identity mode ignores it.
    settings = _settings(
        storage_connection_string=f"DefaultEndpointsProtocol=https;AccountName=stlectern;AccountKey={AZURITE_KEY};EndpointSuffix=core.windows.net",
        storage_account_name="stlectern",
        webpubsub_connection_string="Endpoint=https://wps-lectern.webpubsub.azure.com;AccessKey=dXBzdHJlYW0ta2V5;Version=1.0;",
        connection_state_key="connection-state-key-for-the-test",
    )
    account = StorageAccount.from_settings(settings)
    assert account.connection_string == "" and account.account_key is None
    blobs, queues, tables = BlobStore(account), QueueStore(account), TableStore(account)
    pubsub = PubSub(settings)
    try:
        assert isinstance(blobs.service, BlobServiceClient) and blobs.service.credential is credential
        assert blobs.service.url.startswith("https://stlectern.blob.core.windows.net")
        assert isinstance(queues.service, QueueServiceClient) and queues.service.credential is credential
        assert isinstance(tables.service, TableServiceClient) and tables.service.credential is credential
        assert isinstance(pubsub.client, WebPubSubServiceClient)
        assert pubsub.client._config.credential is credential
        assert pubsub.client._config.endpoint == "https://wps-lectern.webpubsub.azure.com"
        # The key stays only to check the signatures of Web PubSub's upstream calls.
        assert pubsub._access_keys == ["dXBzdHJlYW0ta2V5"]
    finally:
        for store in (blobs, queues, tables, pubsub):
            await store.close()


async def test_local_development_keeps_connection_strings() -> None:
    settings = Settings(
        environment="test",
        storage_connection_string="UseDevelopmentStorage=true",
        webpubsub_connection_string="Endpoint=http://127.0.0.1;Port=8080;AccessKey=bG9jYWw=;Version=1.0;",
        connection_state_key="connection-state-key-for-the-test",
    )
    assert settings.auth_mode == "keys"
    account = StorageAccount.from_settings(settings)
    assert account.account_key == AZURITE_KEY
    pubsub = PubSub(settings)
    try:
        assert pubsub.client._config.credential.__class__.__name__ != IssuedToken.__name__
        assert "AzureKeyCredential" in type(pubsub.client._config.credential).__name__
    finally:
        await pubsub.close()


async def test_the_post_provision_role_owns_only_the_app_schema_and_migrations_run_as_it(scram_postgres: PostgresServer) -> None:
    """infra/postgres/app-role.sql on a server where the app's role already exists (in Azure
    pgaadauth_create_principal_with_oid makes it): the migrations, run by the administrator
    as that role, leave every table in schema `lectern` owned by the app, and the app can
    neither create elsewhere nor do anything a superuser could."""
    import subprocess
    from pathlib import Path
    from urllib.parse import quote

    from shared_code.migrations import apply_migrations

    admin = f"postgresql://postgres@127.0.0.1:{scram_postgres.port}"
    with psycopg.connect(f"{admin}/postgres", autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS lectern_roles")
        conn.execute("CREATE DATABASE lectern_roles")
    script = Path(__file__).resolve().parents[2] / "infra" / "postgres" / "app-role.sql"
    for _ in range(2):  # idempotent: a second run changes nothing and fails nothing
        run = subprocess.run(
            [
                "psql",
                f"{admin}/lectern_roles",
                "-v",
                "ON_ERROR_STOP=1",
                "-v",
                f"app={APP_ROLE}",
                "-v",
                "db=lectern_roles",
                "-f",
                str(script),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
    # The role's search_path applies to its own logins; acting as it, the session names it too.
    apply_migrations(f"{admin}/lectern_roles?options={quote(f'-c role={APP_ROLE} -c search_path=lectern')}", create_database=False)

    with psycopg.connect(f"{admin}/lectern_roles", autocommit=True) as conn:
        owners = conn.execute(
            "SELECT schemaname, tableowner, count(*) FROM pg_tables"
            " WHERE schemaname NOT IN ('pg_catalog', 'information_schema') GROUP BY 1, 2"
        ).fetchall()
        flags = conn.execute("SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone()
    assert [(schema, owner) for schema, owner, _ in owners] == [("lectern", APP_ROLE)]
    assert flags == (False, False, False)

    settings = _settings(postgres_url=f"postgresql://{APP_ROLE}@127.0.0.1:{scram_postgres.port}/lectern_roles", postgres_pool_max=1)
    db = Database(settings, credential=IssuedToken("entra-token-for-postgres"))
    await db.open()
    try:
        async with db.connection() as conn:
            applied = await (await conn.execute("SELECT count(*) AS n FROM schema_migrations")).fetchone()
            assert applied["n"] > 0
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                await conn.execute("CREATE TABLE public.smuggled (id int)")
    finally:
        await db.close()
