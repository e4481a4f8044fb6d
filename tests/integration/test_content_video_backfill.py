"""Migration 0050 on a database from before the video registry: the asset ids lessons
already carry become registered assets of the tutor who used each first, and only that
tutor's lessons keep playing it. The rows are written in SQL because today's API can no
longer make them (that is the point of the registry)."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from shared_code import migrations


@pytest.fixture
def legacy_database(stack, monkeypatch):
    """A scratch database migrated up to just before 0050; dropped afterwards."""
    base = conninfo_to_dict(stack.postgres_url).get("dbname", "lectern")
    name = f"{base}_video_backfill"
    admin = make_conninfo(stack.postgres_url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    url = make_conninfo(stack.postgres_url, dbname=name)
    every = migrations.migration_files()
    monkeypatch.setattr(migrations, "migration_files", lambda: [p for p in every if p.stem < "0050"])
    migrations.apply_migrations(url)
    monkeypatch.setattr(migrations, "migration_files", lambda: every)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_existing_asset_ids_are_registered_to_the_tutor_who_used_them_first(legacy_database):
    first_tutor, copier = uuid.uuid4(), uuid.uuid4()
    own_course, copied_course = uuid.uuid4(), uuid.uuid4()
    lessons = {name: uuid.uuid4() for name in ("original", "reuse", "copy", "other", "document")}
    with psycopg.connect(legacy_database, autocommit=True) as conn:
        for user in (first_tutor, copier):
            conn.execute("INSERT INTO users (id, name, roles) VALUES (%s, 'tutor', ARRAY['tutor'])", (user,))
        conn.execute(
            "INSERT INTO courses (id, owner_id, title, description, price_cents) VALUES (%s, %s, 'A', '', 0), (%s, %s, 'B', '', 0)",
            (own_course, first_tutor, copied_course, copier),
        )
        rows = [
            ("original", own_course, "video", "intro-video", 300, "2 days"),
            ("reuse", own_course, "video", "intro-video", None, "1 day"),
            ("copy", copied_course, "video", "intro-video", 120, "1 hour"),
            ("other", copied_course, "video", "own-video", None, "1 hour"),
            ("document", copied_course, "document", None, None, "1 hour"),
        ]
        for position, (name, course, kind, asset, duration, age) in enumerate(rows):
            conn.execute(
                """INSERT INTO lessons (id, course_id, title, kind, video_asset_id, duration_seconds, position, created_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, now() - %s::interval)""",
                (lessons[name], course, name, kind, asset, duration, position, age),
            )

    applied = migrations.apply_migrations(legacy_database)
    assert applied[0] == "0050_video_assets", applied  # later migrations follow it

    with psycopg.connect(legacy_database) as conn:
        found = {
            row[0]: row[1:]
            for row in conn.execute(
                """SELECT l.title, v.owner_id, v.playback_id, v.duration_seconds
                     FROM lessons l LEFT JOIN video_assets v ON v.id::text = l.video_asset_id"""
            )
        }
        assets = conn.execute("SELECT count(*) FROM video_assets").fetchone()[0]
    assert found["original"] == (first_tutor, "intro-video", 300)
    assert found["reuse"] == found["original"]
    # The other tutor's reuse of the same CDN id names no asset now, so it no longer plays.
    assert found["copy"] == (None, None, None)
    assert found["other"] == (copier, "own-video", None)
    assert found["document"] == (None, None, None)
    assert assets == 2
