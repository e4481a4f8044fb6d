"""The video registry: who may put which video on a lesson, and what playback signs.

Before the registry a lesson carried any asset id its tutor typed, so a tutor who knew (or
guessed) another tutor's id got signed playback of that video through a lesson of their
own. Now an asset is registered by a tutor (optionally bound to one course), a lesson may
name only an asset of its course's owner (or of that course), and playback signs the
registered playback id, never the lesson's raw text. Admins may use any asset: they run
the catalogue. The registry is also where a video lesson's duration comes from when the
tutor gives none, so completion rules always have a server-known length.
"""

from __future__ import annotations

import uuid

from shared_code.adapters.postgres import videos as videos_sql
from shared_code.adapters.postgres.pool import Conn
from shared_code.adapters.postgres.videos import VideoAsset
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.errors import FieldError, Forbidden, Invalid
from shared_code.models.content import Video, VideoCreate, VideoPage
from shared_code.platform import audit
from shared_code.platform.access import course_access, refused
from shared_code.platform.users import ensure_user
from shared_code.services.content.paging import position_of, split_page


def video_out(asset: VideoAsset) -> Video:
    return Video(
        id=uuid.UUID(asset.id),
        owner_id=uuid.UUID(asset.owner_id),
        course_id=uuid.UUID(asset.course_id) if asset.course_id else None,
        title=asset.title,
        duration_seconds=asset.duration_seconds,
        provider=asset.provider,
        playback_id=asset.playback_id,
        created_at=asset.created_at,
    )


async def register_video(ctx: AppContext, principal: Principal, body: VideoCreate) -> Video:
    """Registers a video owned by the caller; bound to a course only if the caller manages it."""
    course_id = str(body.course_id) if body.course_id else None
    if course_id is not None:
        access = await course_access(ctx, principal, course_id)
        if not access.can_manage or access.frozen:
            raise refused(access, "Only the course's tutor and admins may register videos for it.")
    await ensure_user(ctx, principal)
    video_id = str(uuid.uuid4())
    async with ctx.db.connection() as conn:
        asset = await videos_sql.insert_video(
            conn,
            video_id=video_id,
            owner_id=principal.user_id,
            course_id=course_id,
            title=body.title,
            duration_seconds=body.duration_seconds,
            provider=body.provider,
            # The CDN path segment; a provider upload (later) replaces it with the provider's id.
            playback_id=video_id,
        )
    await audit.record(
        ctx, principal, "video.registered", f"video/{video_id}",
        {"before": None, "after": {"title": asset.title, "courseId": course_id, "durationSeconds": asset.duration_seconds}},
    )
    return video_out(asset)


async def list_mine(ctx: AppContext, principal: Principal, *, limit: int, cursor: str | None) -> VideoPage:
    """The videos the caller registered, newest first: what a tutor picks a lesson's video
    or a class's recording from. Another tutor's are never listed (nor usable by them)."""
    after = position_of(cursor)
    async with ctx.db.connection() as conn:
        rows = await videos_sql.list_for_owner(conn, principal.user_id, after=after, limit=limit + 1)
    page, next_cursor = split_page(rows, limit, "created_at")
    return VideoPage(items=[video_out(r) for r in page], next_cursor=next_cursor)


def may_use(principal: Principal, asset: VideoAsset, *, course_id: str, course_owner_id: str) -> bool:
    """Whether a lesson of this course may show this asset, when `principal` puts it there."""
    if principal.is_admin:
        return True
    if asset.course_id is not None:
        return asset.course_id == course_id
    return asset.owner_id == course_owner_id


async def asset_for_lesson(
    conn: Conn, principal: Principal, asset_id: str, *, course_id: str, course_owner_id: str
) -> VideoAsset:
    """The registered asset a lesson is about to reference: 422 unknown, 403 someone else's."""
    asset = await videos_sql.get_video(conn, asset_id)
    if asset is None:
        raise Invalid(
            "No such video: register it with POST /api/videos first.",
            errors=[FieldError("videoAssetId", "not a registered video")],
        )
    if not may_use(principal, asset, course_id=course_id, course_owner_id=course_owner_id):
        raise Forbidden("This video belongs to another tutor or course.")
    return asset


async def registered_asset(ctx: AppContext, asset_id: str) -> VideoAsset | None:
    async with ctx.db.connection() as conn:
        return await videos_sql.get_video(conn, asset_id)
