"""Recordings of ended classes: attached (and removed) by the class's tutor or an admin,
played by its members.

A recording is a video asset from the registry (`services/content/videos.py`), held to the
same rule as a lesson's video: only an asset the course's owner registered (or one bound to
this course) may be attached, so a tutor cannot publish another tutor's video under a class
of their own, and playback signs the registered playback id, never a value a client sent.
Only an ended class takes one: a recording of a class still scheduled or running would
name a video of something that has not happened yet. Playback is the class's members'
(enrolled students not removed from the class, the owning tutor, admins), signed and
logged exactly like a lesson's video playback.
"""

from __future__ import annotations

from shared_code.adapters.postgres import classes as classes_sql
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.errors import FieldError, Forbidden, Invalid, NotFound
from shared_code.models.content import Playback
from shared_code.models.live import LiveClass, RecordingAttach
from shared_code.platform import audit
from shared_code.services.content.access_log import record_access
from shared_code.services.content.playback import signed_url
from shared_code.services.content.videos import asset_for_lesson, registered_asset
from shared_code.services.live import class_access
from shared_code.services.live.class_access import ClassAccess


async def attach_recording(
    ctx: AppContext, principal: Principal, class_id: str, body: RecordingAttach, *, found: ClassAccess | None = None
) -> LiveClass:
    """Sets (or replaces) the recording of an ended class: 422 while it has not ended or for an
    unknown asset, 403 for another tutor's asset. Audited with the asset before and after."""
    found = found or await class_access.require_manager(ctx, principal, class_id)
    if not found.can_manage:
        raise Forbidden("Only the class's tutor and admins may attach its recording.")
    if found.status != "ended":
        raise Invalid("Only an ended class takes a recording.", errors=[FieldError("classId", "the class has not ended")])
    asset_id = str(body.video_asset_id)
    async with ctx.db.transaction() as conn:
        await asset_for_lesson(conn, principal, asset_id, course_id=found.course_id, course_owner_id=found.course.owner_id)
        row = await classes_sql.attach_recording(conn, class_id, asset_id)
    if row is None:
        raise NotFound("No such class.")
    before = found.row.recording_asset_id
    await audit.record(
        ctx, principal, "class.recording.attached", f"class/{class_id}",
        {"courseId": found.course_id, "before": {"videoAssetId": str(before) if before else None},
         "after": {"videoAssetId": asset_id}},
    )
    return LiveClass.model_validate(row)


async def remove_recording(
    ctx: AppContext, principal: Principal, class_id: str, *, found: ClassAccess | None = None
) -> None:
    """Takes the recording off the class (the video asset stays registered): its members can
    no longer play it. A class without one is left as it is, so a repeat is harmless.
    Audited with the asset it had."""
    found = found or await class_access.require_manager(ctx, principal, class_id)
    async with ctx.db.connection() as conn:
        removed = await classes_sql.detach_recording(conn, class_id)
    if removed is None:
        return
    await audit.record(
        ctx, principal, "class.recording.removed", f"class/{class_id}",
        {"courseId": found.course_id, "before": {"videoAssetId": removed}, "after": {"videoAssetId": None}},
    )


async def recording_playback(
    ctx: AppContext, principal: Principal, class_id: str, *, user_agent: str | None, found: ClassAccess | None = None
) -> Playback:
    """A signed, expiring URL of the class's recording for a member; logged as content access."""
    found = found or await class_access.require_member(ctx, principal, class_id)
    asset_id = found.row.recording_asset_id
    if not asset_id:
        raise Invalid("This class has no recording.")
    asset = await registered_asset(ctx, str(asset_id))
    if asset is None:
        raise Invalid("This class's recording is not registered.")
    url, expires_at = signed_url(ctx, asset.playback_id, viewer_id=principal.user_id)
    await record_access(
        ctx, course_id=found.course_id, user_id=principal.user_id, kind="recording", target_id=class_id,
        user_agent=user_agent, expires_at=expires_at,
    )
    return Playback(url=url, expires_at=expires_at)
