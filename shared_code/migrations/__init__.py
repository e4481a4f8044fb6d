"""Versioned SQL migrations: numbered files in `sql/`, applied once each, in order.

`python -m shared_code.migrations` applies what is missing (creating the database first
when it does not exist). A table `schema_migrations` records each applied file; an
advisory lock keeps two runners from applying the same file at once. Safe to run twice.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

SQL_DIR = Path(__file__).with_name("sql")
LOCK_ID = 0x1EC7E54  # any constant: the advisory lock that serialises migration runs

logger = logging.getLogger("lectern.migrations")


def migration_files() -> list[Path]:
    return sorted(SQL_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql"))


def ensure_database(url: str) -> None:
    """Creates the database named in `url` when it does not exist yet."""
    params = conninfo_to_dict(url)
    dbname = params.get("dbname") or "postgres"
    admin = make_conninfo(url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(str(dbname))))
                logger.info("created database %s", dbname)
            except psycopg.errors.DuplicateDatabase:
                pass


def apply_migrations(url: str, *, create_database: bool = True) -> list[str]:
    """Applies every migration not yet recorded; returns the versions applied now."""
    if create_database:
        ensure_database(url)
    applied_now: list[str] = []
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_ID,))
        try:
            conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version text PRIMARY KEY,
                       checksum text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = {r[0]: r[1] for r in conn.execute("SELECT version, checksum FROM schema_migrations")}
            for path in migration_files():
                version = path.stem
                text = path.read_text()
                checksum = hashlib.sha256(text.encode()).hexdigest()
                if version in done:
                    if done[version] != checksum:
                        logger.warning("migration %s changed after it was applied; leaving it as applied", version)
                    continue
                with conn.transaction():
                    conn.execute(text)
                    conn.execute(
                        "INSERT INTO schema_migrations (version, checksum) VALUES (%s, %s)", (version, checksum)
                    )
                applied_now.append(version)
                logger.info("applied migration %s", version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_ID,))
    return applied_now
