"""Content endpoints: courses, lessons, playback, materials, enrolment.

`endpoint` checks the caller before a handler runs (a caller without a token gets 401
whatever it sent), and the relation to the course or lesson its route names; the handler
parses, calls one service function and responds. A download's relation answers 404 for
an unpublished material before it asks about membership, so its existence does not leak.
Enrolment still checks its relation in the service (it depends on the course's price).
"""

from __future__ import annotations

import azure.functions as func

from shared_code.http import (
    COURSE_MANAGER,
    MEMBER_ROLES,
    Call,
    course_id_relation,
    endpoint,
    header,
    json_body,
    lesson_relation,
    material_relation,
    query,
    respond,
    respond_json,
    route_id,
)
from shared_code.models.content import (
    Course,
    CourseCreate,
    CourseDetail,
    CoursePage,
    CourseQuery,
    CourseUpdate,
    Download,
    Enrollment,
    EnrollmentRequest,
    Lesson,
    LessonCreate,
    LessonOrder,
    LessonUpdate,
    Material,
    MaterialPage,
    MaterialUpload,
    MaterialUploadRequest,
    Playback,
    Video,
    VideoCreate,
    VideoPage,
)
from shared_code.pagination import PageQuery
from shared_code.services.content import catalog, courses, enrollments, lesson_edits, materials, playback, videos

bp = func.Blueprint()

TAG = "content"
MANAGERS = ("tutor", "admin")

# The lesson relations, each refused in this area's words.
LESSON_READER = lesson_relation(
    "enrolled, owning tutor, admin", MEMBER_ROLES, lambda access: access.is_member,
    "Only students enrolled in this course, its tutor and admins may read its lessons.",
)
LESSON_VIEWER = lesson_relation(
    "enrolled, owning tutor, admin", MEMBER_ROLES, lambda access: access.is_member,
    "Only students enrolled in this course, its tutor and admins may watch its videos.",
)
LESSON_EDITOR = lesson_relation(
    "owning tutor, admin", MANAGERS, lambda access: access.can_manage,
    "Only the course's tutor and admins may edit its lessons.",
)
LESSON_REMOVER = lesson_relation(
    "owning tutor, admin", MANAGERS, lambda access: access.can_manage,
    "Only the course's tutor and admins may delete its lessons.",
)
UPLOADER = course_id_relation(
    "owning tutor, admin", MANAGERS, lambda access: access.can_manage,
    "Only the course's tutor and admins may upload materials.",
)
PUBLISHER = material_relation(
    "owning tutor, admin", MANAGERS, lambda access: access.can_manage,
    "Only the course's tutor and admins may publish materials.",
)
READER = course_id_relation(
    "enrolled, owning tutor, admin", MEMBER_ROLES, lambda access: access.is_member,
    "Only students enrolled in this course, its tutor and admins may see its materials.",
)
REMOVER = material_relation(
    "owning tutor, admin", MANAGERS, lambda access: access.can_manage,
    "Only the course's tutor and admins may delete materials.",
)
# A download answers 404 for an unpublished material (to all but managers) before it asks
# about membership, so the material's existence does not leak.
DOWNLOADER = material_relation(
    "enrolled, owning tutor, admin", MEMBER_ROLES, lambda access: access.is_member, materials.DOWNLOADERS_ONLY,
    visible=materials.downloadable_by,
)


# --- courses ---------------------------------------------------------------------------
@endpoint(
    bp,
    "courses",
    ["GET"],
    summary="Published courses (tutors also see their drafts; admins see all); full-text search and filters",
    tag=TAG,
    query=CourseQuery,
    response=CoursePage,
)
async def list_courses(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    return respond(await catalog.list_courses(call.ctx, call.principal, query(req, CourseQuery)))


@endpoint(
    bp, "courses", ["POST"], summary="Create a course (a draft)", tag=TAG, request=CourseCreate, response=Course,
    status=201, roles=MANAGERS, errors=(409,), idempotency_in_service=True,
)
async def create_course(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    body = json_body(req, CourseCreate)
    status, course = await courses.create_course(call.ctx, call.principal, body, idempotency_key=header(req, "idempotency-key"))
    return respond(course, status=status)


@endpoint(bp, "courses/{courseId}", ["GET"], summary="A course with its lessons in order", tag=TAG, response=CourseDetail)
async def get_course(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    course_id = route_id(req, "courseId")
    return respond(await courses.get_course(call.ctx, call.principal, course_id))


@endpoint(
    bp, "courses/{courseId}", ["PATCH"], summary="Edit a course; {published: true} publishes it", tag=TAG,
    request=CourseUpdate, response=Course, roles=MANAGERS, relation=COURSE_MANAGER,
)
async def update_course(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    access = call.access
    body = json_body(req, CourseUpdate)
    return respond(await courses.update_course(call.ctx, call.principal, access.course_id, body, access=access))


# --- lessons ---------------------------------------------------------------------------
@endpoint(
    bp, "courses/{courseId}/lessons", ["POST"], summary="Add a lesson (at a position, or last)", tag=TAG,
    request=LessonCreate, response=Lesson, status=201, roles=MANAGERS, relation=COURSE_MANAGER, errors=(409, 422),
    idempotency_in_service=True,
)
async def add_lesson(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    access = call.access
    body = json_body(req, LessonCreate)
    status, lesson = await courses.add_lesson(
        call.ctx, call.principal, access.course_id, body, idempotency_key=header(req, "idempotency-key"), access=access
    )
    return respond(lesson, status=status)


@endpoint(bp, "lessons/{lessonId}", ["GET"], summary="Lesson metadata (enrolled, owning tutor, admin)", tag=TAG, response=Lesson,
          relation=LESSON_READER)
async def get_lesson(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    lesson_id = route_id(req, "lessonId")
    return respond_json(await courses.lesson_body(call.ctx, call.principal, lesson_id, found=call.access))


@endpoint(
    bp, "lessons/{lessonId}", ["PATCH"], summary="Edit a lesson's title, video or duration (audited)", tag=TAG,
    request=LessonUpdate, response=Lesson, roles=MANAGERS, relation=LESSON_EDITOR, errors=(422,),
)
async def update_lesson(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    lesson_id = route_id(req, "lessonId")
    body = json_body(req, LessonUpdate)
    return respond(await courses.update_lesson(call.ctx, call.principal, lesson_id, body, found=call.access))


@endpoint(
    bp, "lessons/{lessonId}", ["DELETE"], summary="Delete a lesson with its progress and quiz (audited); positions close up",
    tag=TAG, status=204, roles=MANAGERS, relation=LESSON_REMOVER,
)
async def delete_lesson(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    lesson_id = route_id(req, "lessonId")
    await lesson_edits.delete_lesson(call.ctx, call.principal, lesson_id, found=call.access)
    return respond(status=204)


@endpoint(
    bp, "courses/{courseId}/lessons/order", ["PUT"], summary="Put every lesson of the course in a new order (audited)",
    tag=TAG, request=LessonOrder, response=CourseDetail, roles=MANAGERS, relation=COURSE_MANAGER, errors=(422,),
)
async def reorder_lessons(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    access = call.access
    body = json_body(req, LessonOrder)
    return respond(await lesson_edits.reorder_lessons(call.ctx, call.principal, access.course_id, body, access=access))


@endpoint(
    bp, "lessons/{lessonId}/playback", ["GET"], summary="A signed, expiring CDN playback URL", tag=TAG,
    response=Playback, relation=LESSON_VIEWER, errors=(409, 422),
)
async def lesson_playback(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    lesson_id = route_id(req, "lessonId")
    user_agent = header(req, "user-agent")
    return respond(await playback.issue_playback(call.ctx, call.principal, lesson_id, user_agent=user_agent, found=call.access))


# --- video assets ----------------------------------------------------------------------
@endpoint(
    bp, "videos", ["POST"], summary="Register a video asset (lessons may use only their owner's assets)", tag=TAG,
    request=VideoCreate, response=Video, status=201, roles=MANAGERS, errors=(404,), idempotent_key=True,
)
async def register_video(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    body = json_body(req, VideoCreate)
    return respond(await videos.register_video(call.ctx, call.principal, body), status=201)


@endpoint(
    bp, "videos", ["GET"], summary="The videos the caller registered, newest first", tag=TAG,
    query=PageQuery, response=VideoPage, roles=MANAGERS,
)
async def my_videos(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    page = query(req, PageQuery)
    return respond(await videos.list_mine(call.ctx, call.principal, limit=page.limit, cursor=page.cursor))


# --- materials -------------------------------------------------------------------------
@endpoint(
    bp, "courses/{courseId}/materials/uploads", ["POST"], summary="Start an upload: a create-only SAS for one blob",
    tag=TAG, request=MaterialUploadRequest, response=MaterialUpload, status=201, roles=MANAGERS, relation=UPLOADER,
    errors=(422,), idempotent_key=True,
)
async def start_material_upload(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    access = call.access
    body = json_body(req, MaterialUploadRequest)
    return respond(await materials.start_upload(call.ctx, call.principal, access.course_id, body, access=access), status=201)


@endpoint(
    bp, "materials/{materialId}/publish", ["POST"], summary="Publish an uploaded material (checks the blob)",
    tag=TAG, response=Material, roles=MANAGERS, relation=PUBLISHER, errors=(422,),
)
async def publish_material(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    material_id = route_id(req, "materialId")
    return respond(await materials.publish_material(call.ctx, call.principal, material_id, found=call.access))


@endpoint(
    bp, "materials/{materialId}", ["DELETE"], summary="Delete a material and its file (audited)", tag=TAG,
    status=204, roles=MANAGERS, relation=REMOVER,
)
async def delete_material(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    material_id = route_id(req, "materialId")
    await materials.delete_material(call.ctx, call.principal, material_id, found=call.access)
    return respond(status=204)


@endpoint(bp, "courses/{courseId}/materials", ["GET"], summary="Published materials of a course", tag=TAG, query=PageQuery,
          response=MaterialPage, relation=READER)
async def list_materials(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    access = call.access
    page = query(req, PageQuery)
    return respond(await materials.list_materials(
        call.ctx, call.principal, access.course_id, limit=page.limit, cursor=page.cursor, access=access
    ))


@endpoint(
    bp, "materials/{materialId}/download", ["GET"], summary="A read-only SAS for one material (logged)", tag=TAG,
    response=Download, relation=DOWNLOADER, errors=(409, 422),
)
async def download_material(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    material_id = route_id(req, "materialId")
    return respond(await materials.download(
        call.ctx, call.principal, material_id, user_agent=header(req, "user-agent"), found=call.access
    ))


# --- enrolment -------------------------------------------------------------------------
@endpoint(
    bp, "courses/{courseId}/enrollments", ["POST"], summary="Enrol (students: free courses; admins: anyone)",
    tag=TAG, request=EnrollmentRequest, response=Enrollment, status=201, roles=("student", "admin"), errors=(422,), also=(200,),
    idempotent_key=True,
)
async def enrol(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    course_id = route_id(req, "courseId")
    body = json_body(req, EnrollmentRequest, allow_empty=True)
    status, enrollment = await enrollments.enrol(call.ctx, call.principal, course_id, body)
    return respond(enrollment, status=status)
