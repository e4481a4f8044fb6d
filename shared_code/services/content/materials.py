"""Learning materials: upload straight to Blob storage, publish, list, download, delete.

The file never passes through the function app. The tutor gets a SAS that can only
create one blob (server-chosen name under `uploads/`, minutes long), for a declared type
whose allow-listed extensions the file name must carry: `notes.html` declared as a PDF
would otherwise be stored, and served, as whatever a browser sniffs it to be.

Publishing checks the blob's real size and type against the declaration, copies it
(server side, pinned to the checked version) to its published name under `courses/`, and
stamps it with the declared type and `Content-Disposition: attachment`, so even a reader
without our SAS overrides gets a download, never a page rendered on the storage origin.
Then it tells the course's members over Web PubSub. Keeping pending uploads under their
own prefix is what lets the storage lifecycle rule (infra/bicep) delete any upload older
than a day without touching a published file; `discard_stale_uploads`, run by a timer,
deletes the rows and blobs first, so the rule is only the backstop.

A download is a read-only SAS for that one blob whose response carries the declared type
and `Content-Disposition: attachment` with the original file name, and leaves a
content-access log row. A download by an enrolled student completes the course's document
lessons that name the material (`services/progress/completion.py`); a download by its
tutor or an admin completes nothing. Publish and delete leave audit rows with what changed.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shared_code.adapters.blobs import BlobChanged
from shared_code.adapters.postgres import materials as materials_sql
from shared_code.adapters.postgres.materials import MaterialRow
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.domain import notifications as texts
from shared_code.domain.material_files import (
    CLEANUP_BATCH,
    EXTENSIONS,
    UPLOAD_MAX_AGE,
    blob_name_for,
    content_disposition,
    display_name,
    extension_fits,
    normalise_type,
    upload_blob_name_for,
)
from shared_code.errors import FieldError, Forbidden, Invalid, NotFound
from shared_code.models.content import Download, Material, MaterialPage, MaterialUpload, MaterialUploadRequest
from shared_code.platform import access as access_rules
from shared_code.platform import audit, content_cache, outbox
from shared_code.platform.access import CourseAccess, course_access
from shared_code.platform.users import ensure_user
from shared_code.services.content.access_log import record_access
from shared_code.services.content.paging import position_of, split_page
from shared_code.services.notifications import delivery as notify
from shared_code.services.progress.completion import complete_documents

logger = logging.getLogger("lectern.materials")


def _audited(row: MaterialRow) -> dict[str, Any]:
    """What an audit row records of a material."""
    return {"fileName": row.file_name, "contentType": row.content_type, "sizeBytes": row.size_bytes, "status": row.status}


def _material_out(row: MaterialRow) -> Material:
    return Material.model_validate(row)


async def material_access(ctx: AppContext, principal: Principal, material_id: str) -> tuple[MaterialRow, CourseAccess]:
    """The material row and the caller's access to its course; 404 when either is hidden."""
    async with ctx.db.connection() as conn:
        row = await materials_sql.get_material(conn, material_id)
    if row is None:
        raise NotFound("No such material.")
    try:
        access = await course_access(ctx, principal, str(row.course_id))
    except NotFound:
        raise NotFound("No such material.") from None
    return row, access_rules.material_access(row.taken_down_at is not None, access)


# --- upload and publish ----------------------------------------------------------------
async def start_upload(
    ctx: AppContext,
    principal: Principal,
    course_id: str,
    body: MaterialUploadRequest,
    *,
    access: CourseAccess | None = None,
) -> MaterialUpload:
    access = access or await course_access(ctx, principal, course_id)
    if not access.can_manage or access.frozen:
        raise access_rules.refused(access, "Only the course's tutor and admins may upload materials.")
    settings = ctx.settings
    content_type = normalise_type(body.content_type)
    errors: list[FieldError] = []
    if content_type not in settings.allowed_material_types:
        allowed = ", ".join(sorted(settings.allowed_material_types))
        errors.append(FieldError("contentType", f"'{content_type}' is not accepted; allowed: {allowed}"))
    if body.size_bytes > settings.material_max_bytes:
        errors.append(FieldError("sizeBytes", f"at most {settings.material_max_bytes} bytes"))
    original = display_name(body.file_name)
    if not original:
        errors.append(FieldError("fileName", "needs at least one visible character"))
    elif content_type in settings.allowed_material_types and not extension_fits(original, content_type):
        allowed = ", ".join(f".{e}" for e in sorted(EXTENSIONS.get(content_type, ()))) or "none known"
        errors.append(FieldError("fileName", f"a '{content_type}' file must end in {allowed}"))
    if errors:
        raise Invalid("This file cannot be uploaded as course material.", errors=errors)

    await ensure_user(ctx, principal)
    material_id = str(uuid.uuid4())
    blob_name = upload_blob_name_for(course_id, material_id, original)
    async with ctx.db.connection() as conn:
        row = await materials_sql.insert_pending(
            conn,
            material_id=material_id,
            course_id=course_id,
            uploader_id=principal.user_id,
            blob_name=blob_name,
            file_name=original,
            content_type=content_type,
            size_bytes=body.size_bytes,
        )
    await audit.record(
        ctx, principal, "material.upload_started", f"material/{material_id}",
        {"courseId": course_id, "fileName": original, "before": None, "after": _audited(row)},
    )
    await ctx.blobs.ensure_container(settings.materials_container)
    url, expires_at = await ctx.blobs.sas_url(
        settings.materials_container, blob_name, permission="c", minutes=settings.sas_minutes
    )
    return MaterialUpload(
        material_id=uuid.UUID(material_id),
        upload_url=url,
        expires_at=expires_at,
        required_headers={"x-ms-blob-type": "BlockBlob", "x-ms-blob-content-type": content_type},
    )


async def publish_material(
    ctx: AppContext,
    principal: Principal,
    material_id: str,
    *,
    found: tuple[MaterialRow, CourseAccess] | None = None,
) -> Material:
    row, access = found or await material_access(ctx, principal, material_id)
    if not access.can_manage or access.frozen:
        raise access_rules.refused(access, "Only the course's tutor and admins may publish materials.")
    if row.status == "published":
        return _material_out(row)
    container = ctx.settings.materials_container
    info = await ctx.blobs.info(container, row.blob_name)
    if info is None:
        async with ctx.db.connection() as conn:
            current = await materials_sql.get_material(conn, material_id)
        if current is not None and current.status == "published":
            return _material_out(current)  # a concurrent publish moved the upload
        raise Invalid("Nothing has been uploaded for this material yet: PUT the file to its uploadUrl first.")
    problems: list[FieldError] = []
    if info.size != row.size_bytes:
        problems.append(FieldError("sizeBytes", f"announced {row.size_bytes} bytes, uploaded {info.size}"))
    if normalise_type(info.content_type) != row.content_type:
        problems.append(
            FieldError("contentType", f"announced '{row.content_type}', uploaded '{normalise_type(info.content_type)}'")
        )
    if problems:
        raise Invalid("The uploaded file does not match what was announced.", errors=problems)

    source = row.blob_name
    target = blob_name_for(str(row.course_id), material_id, row.file_name)
    try:
        etag = info.etag
        if source != target:
            copied = await ctx.blobs.copy(container, source, target, source_etag=info.etag)
            if copied.size != row.size_bytes:
                raise BlobChanged("the copy's size differs")
            etag = copied.etag
        await ctx.blobs.set_headers(
            container, target, content_type=row.content_type, content_disposition=content_disposition(row.file_name),
            etag=etag,
        )
    except BlobChanged as exc:
        raise Invalid(f"The upload changed while it was being published ({exc}); publish it again.") from None

    async with ctx.db.transaction() as conn:
        published = await materials_sql.mark_published(conn, material_id, blob_name=target)
        if published is None:
            # Another request published it first; its effects already ran.
            current = await materials_sql.get_material(conn, material_id)
            if current is None:
                raise NotFound("No such material.")
            return _material_out(current)
    if source != target:
        # The lifecycle rule would remove it after a day anyway; this frees it now.
        await ctx.blobs.delete(container, source)
    course_id = str(published.course_id)
    published_at = published.published_at
    assert published_at is not None  # the update set it
    await content_cache.course_changed(ctx, course_id)
    await audit.record(
        ctx, principal, "material.published", f"material/{material_id}",
        {"courseId": course_id, "fileName": published.file_name, "before": _audited(row), "after": _audited(published)},
    )
    if access.taken_down:
        return _material_out(published)  # an admin published into a taken-down course: nobody is told
    await outbox.perform(
        ctx,
        "pubsub.group",
        {
            "group": f"course.{course_id}",
            "message": {
                "type": "material.published",
                "courseId": course_id,
                "materialId": material_id,
                "fileName": published.file_name,
                "at": published_at.isoformat(),
            },
        },
    )
    notice = texts.material_published(material_id, course_id, access.title, published.file_name, published_at)
    await notify.notify_enrolled(ctx, course_id, notice, tutor_id=access.owner_id)
    return _material_out(published)


# --- delete and clean up ---------------------------------------------------------------
async def delete_material(
    ctx: AppContext,
    principal: Principal,
    material_id: str,
    *,
    found: tuple[MaterialRow, CourseAccess] | None = None,
) -> None:
    """Removes a material (published or not) and its blob; audited with what was removed.

    The blob goes first: if storage is down the row stays and the delete can be retried,
    rather than a row-less blob that nothing would ever find again.
    """
    row, access = found or await material_access(ctx, principal, material_id)
    if not access.can_manage or access.frozen:
        raise access_rules.refused(access, "Only the course's tutor and admins may delete materials.")
    await ctx.blobs.delete(ctx.settings.materials_container, row.blob_name)
    async with ctx.db.transaction() as conn:
        removed = await materials_sql.delete_material(conn, material_id)
    if removed is None:
        return  # a concurrent delete won; it leaves the audit row
    course_id = str(row.course_id)
    if row.status == "published":
        await content_cache.course_changed(ctx, course_id)
    await audit.record(
        ctx, principal, "material.deleted", f"material/{material_id}",
        {"courseId": course_id, "fileName": row.file_name, "before": _audited(removed), "after": None},
    )


async def discard_stale_uploads(
    ctx: AppContext, *, now: datetime | None = None, max_age: timedelta = UPLOAD_MAX_AGE
) -> int:
    """Deletes uploads started more than `max_age` before `now` and never published; how many.

    Rows go first (in batches, each its own transaction), then their blobs: a blob whose
    delete fails is still under the upload prefix, where the lifecycle rule finds it.
    """
    cutoff = (now or datetime.now(UTC)) - max_age
    container = ctx.settings.materials_container
    discarded = 0
    while True:
        async with ctx.db.transaction() as conn:
            rows = await materials_sql.delete_stale_pending(conn, created_before=cutoff, limit=CLEANUP_BATCH)
        for row in rows:
            try:
                await ctx.blobs.delete(container, row.blob_name)
            except Exception:  # noqa: BLE001 - the lifecycle rule removes what this misses
                logger.warning("stale upload blob not deleted", extra={"blob": row.blob_name}, exc_info=True)
            await audit.record(
                ctx, None, "material.discarded", f"material/{row.id}",
                {"courseId": str(row.course_id), "fileName": row.file_name, "before": _audited(row), "after": None},
            )
        discarded += len(rows)
        if len(rows) < CLEANUP_BATCH:
            break
    if discarded:
        logger.info("unpublished uploads discarded", extra={"count": discarded, "cutoff": cutoff.isoformat()})
    return discarded


# --- list and download -----------------------------------------------------------------
async def list_materials(
    ctx: AppContext,
    principal: Principal,
    course_id: str,
    *,
    limit: int,
    cursor: str | None,
    access: CourseAccess | None = None,
) -> MaterialPage:
    after = position_of(cursor)
    access = access or await course_access(ctx, principal, course_id)
    if not access.is_member:
        raise Forbidden("Only students enrolled in this course, its tutor and admins may see its materials.")
    async with ctx.db.connection() as conn:
        rows = await materials_sql.list_published(
            conn, course_id, after=after, limit=limit + 1, with_taken_down=access.can_manage
        )
    page, next_cursor = split_page(rows, limit, "published_at")
    return MaterialPage(items=[_material_out(r) for r in page], next_cursor=next_cursor)


# The refusal of the download relation (`functions/content.py`), also given here to callers
# that reach the service without HTTP.
DOWNLOADERS_ONLY = "Only students enrolled in this course, its tutor and admins may download its materials."


def downloadable_by(row: MaterialRow, access: CourseAccess) -> bool:
    """Whether the caller may know the material exists: unpublished ones only to managers,
    so a download of one answers 404 before membership is asked."""
    return row.status == "published" or access.can_manage


async def download(
    ctx: AppContext,
    principal: Principal,
    material_id: str,
    *,
    user_agent: str | None,
    found: tuple[MaterialRow, CourseAccess] | None = None,
) -> Download:
    """A read SAS for a published material; `found` is the material and access the
    endpoint's relation already checked."""
    row, access = found or await material_access(ctx, principal, material_id)
    if not downloadable_by(row, access):
        raise NotFound("No such material.")
    if row.status != "published":
        raise Invalid("This material is not published yet.")
    if not access.is_member:
        raise Forbidden(DOWNLOADERS_ONLY)
    access_rules.require_deliverable(access)
    url, expires_at = await ctx.blobs.sas_url(
        ctx.settings.materials_container,
        row.blob_name,
        permission="r",
        minutes=ctx.settings.sas_minutes,
        content_disposition=content_disposition(row.file_name),
        content_type=row.content_type,
    )
    await record_access(
        ctx,
        course_id=access.course_id,
        user_id=principal.user_id,
        kind="download",
        target_id=material_id,
        user_agent=user_agent,
        expires_at=expires_at,
    )
    await complete_documents(ctx, principal, material_id, access)
    return Download(url=url, expires_at=expires_at)
