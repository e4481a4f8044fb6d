"""Who is calling and whether they may: the verified caller, the role gate, and the
relation an endpoint declares to the course, lesson, material, quiz or class its route (or,
for creates and filtered lists, its body or query) names.

`endpoint` runs `resolve` before the handler, so a handler receives a `Call` that already
holds the context, the caller and (when a relation is declared) the access the relation
check found, and only parses, calls one service and responds. The relation checks are the
platform's own (`platform/access.py`, `services/live/class_access.py`): the same rows, the
same 404 for what the caller may not see and 403 for the wrong relation. The services keep
their own check for callers that reach them without HTTP (the integration tests call them
directly); an endpoint hands them the access it found so it is not looked up twice.

A relation usually reads its id from the route. `in_body(relation)` / `in_query(relation)`
read it from the endpoint's parsed request body or query model instead (the field whose
wire name is the relation's `param`, e.g. `POST /classes {courseId}`): that model is parsed
before the relation is asked (a malformed body is a 400 whoever sends it) and reaches the
handler as `call.body` / `call.query`, so it is not parsed twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

import azure.functions as func
from pydantic import BaseModel

from shared_code.adapters.postgres.materials import MaterialRow
from shared_code.auth import Principal, bearer_token, require_role
from shared_code.bootstrap import get_context
from shared_code.context import AppContext
from shared_code.errors import NotFound, Unauthorized
from shared_code.http.limits import TOO_MANY, settle_limit, start_limit
from shared_code.http.parsing import READ_METHODS, client_ip, json_body, query, route_id
from shared_code.platform import access as course_access
from shared_code.platform import content_cache, users
from shared_code.services.content import materials
from shared_code.services.live import class_access
from shared_code.services.progress import quiz_keys, quizzes


@dataclass(frozen=True)
class Relation:
    """A relation the caller must hold to what the route parameter `param` names.

    `roles` are the roles that can hold it (what the API reference lists as "who"); the
    relation itself is the check, so an endpoint that declares one needs a role gate of its
    own only to refuse other roles before anything is looked up (as content's
    managers-only writes always have: 403 even for a course the caller cannot see).
    """

    name: str
    param: str
    roles: tuple[str, ...]
    check: Callable[..., Awaitable[Any]]  # (ctx, principal, id), and `prefetched=` with a prefetch
    # The `CourseAccess` inside what `check` answers (itself, a (row, access) pair, a class's).
    course_of: Callable[[Any], course_access.CourseAccess] = lambda found: found
    source: Literal["route", "body", "query"] = "route"  # where `param` is read
    # Sends the check's cache read (ctx, the route's id, user id) before the caller is
    # authorised, so it shares their round trip; the answer goes to `check` as `prefetched`.
    # It only reads Redis: nothing reaches PostgreSQL before the caller passed.
    prefetch: Callable[[AppContext, str, str], Any] | None = None

    def start(self, ctx: AppContext, req: func.HttpRequest, user_id: str) -> Any:
        """The prefetch for this request, or None."""
        if self.prefetch is None or self.source != "route":
            return None
        return self.prefetch(ctx, req.route_params.get(self.param, ""), user_id)

    async def resolve(
        self,
        ctx: AppContext,
        principal: Principal,
        req: func.HttpRequest,
        parsed: BaseModel | None = None,
        prefetched: Any = None,
    ) -> Any:
        if self.source == "route":
            if prefetched is not None:
                found = await self.check(ctx, principal, route_id(req, self.param), prefetched=prefetched)
            else:
                found = await self.check(ctx, principal, route_id(req, self.param))
        else:
            assert parsed is not None  # `resolve` parses the model a body or query relation reads
            found = await self.check(ctx, principal, str(getattr(parsed, field_named(type(parsed), self.param))))
        if req.method.upper() not in READ_METHODS:
            # What an admin took down is read-only to its tutor: every write through a
            # relation (edits, lessons, uploads, publishing, quizzes, classes, joins) is a 409.
            course_access.require_changeable(self.course_of(found))
        return found


def field_named(model: type[BaseModel], wire_name: str) -> str:
    """The attribute of `model` whose wire (alias) name is `wire_name`; a declaration error
    (at import) when it has none."""
    for name, info in model.model_fields.items():
        if wire_name in (info.alias, name):
            return name
    raise TypeError(f"{model.__name__} has no field {wire_name!r} for a relation to read")


def in_body(relation: Relation) -> Relation:
    """`relation`, reading its id from the parsed request body's field named `param`."""
    return replace(relation, source="body")


def in_query(relation: Relation) -> Relation:
    """`relation`, reading its id from the parsed query's field named `param`."""
    return replace(relation, source="query")


MEMBER_ROLES = ("student", "tutor", "admin")
MANAGER_ROLES = ("tutor", "admin")

# Course relations (platform/access.py): the answer is a `CourseAccess`.
COURSE_MEMBER = Relation("enrolled, owning tutor, admin", "courseId", MEMBER_ROLES, course_access.require_member)
COURSE_MANAGER = Relation("owning tutor, admin", "courseId", MANAGER_ROLES, course_access.require_manager)


def course_id_relation(
    name: str, roles: tuple[str, ...], allows: Callable[[course_access.CourseAccess], bool], refusal: str
) -> Relation:
    """A relation to the course `courseId` names, refused in the endpoint's own words; the
    answer is the `CourseAccess`."""

    async def check(ctx: AppContext, principal: Principal, course_id: str) -> Any:
        found = await course_access.course_access(ctx, principal, course_id)
        if not allows(found):
            raise course_access.refused(found, refusal)
        return found

    return Relation(name, "courseId", roles, check)


# The row (a dict, or a row value where its table has one) and the caller's access.
Lookup = Callable[..., Awaitable[tuple[Any, course_access.CourseAccess]]]


def course_relation(
    name: str,
    param: str,
    roles: tuple[str, ...],
    lookup: Lookup,
    allows: Callable[[course_access.CourseAccess], bool],
    refusal: str,
    *,
    prefetch: Callable[[AppContext, str, str], Any] | None = None,
) -> Relation:
    """A relation to the course of the lesson or material `param` names. `lookup` reads the
    row and the caller's `CourseAccess` (404 when the caller may not see it); the answer is
    that pair, which the service takes instead of reading it again. Each area words its own
    refusal, so the endpoint passes it. With `prefetch`, `lookup` also takes what it sent
    (`prefetched=`)."""

    async def check(ctx: AppContext, principal: Principal, resource_id: str, **prefetched: Any) -> Any:
        row, found = await lookup(ctx, principal, resource_id, **prefetched)
        if not allows(found):
            raise course_access.refused(found, refusal)
        return row, found

    return Relation(name, param, roles, check, course_of=lambda found: found[1], prefetch=prefetch)


def lesson_relation(
    name: str, roles: tuple[str, ...], allows: Callable[[course_access.CourseAccess], bool], refusal: str
) -> Relation:
    """A relation to the course of the lesson `lessonId` names (`platform/access.py`
    `lesson_access`), whose cache read is sent beside the caller's own checks."""
    return course_relation(
        name, "lessonId", roles, course_access.lesson_access, allows, refusal, prefetch=content_cache.prefetch_lesson
    )


def material_relation(
    name: str,
    roles: tuple[str, ...],
    allows: Callable[[course_access.CourseAccess], bool],
    refusal: str,
    *,
    visible: Callable[[MaterialRow, course_access.CourseAccess], bool] | None = None,
) -> Relation:
    """A relation to the course of the material `materialId` names (`services/content/materials.py`).

    `visible` hides a material from some callers before their relation is judged (404, as for
    a material that does not exist): downloads hide unpublished ones from all but managers."""

    async def lookup(ctx: AppContext, principal: Principal, material_id: str) -> tuple[MaterialRow, course_access.CourseAccess]:
        row, found = await materials.material_access(ctx, principal, material_id)
        if visible is not None and not visible(row, found):
            raise NotFound("No such material.")
        return row, found

    return course_relation(name, "materialId", roles, lookup, allows, refusal)


# A quiz's course, for its readers (services/progress/quizzes.py `quiz_access`).
QUIZ_MEMBER = course_relation(
    "enrolled, owning tutor, admin", "quizId", MEMBER_ROLES, quizzes.quiz_access, lambda access: access.is_member,
    course_access.MEMBERS_ONLY,
)

# A quiz's course, for the students who answer it (only enrolled ones: tutors and admins
# read quizzes, they do not take them).
QUIZ_TAKER = course_relation(
    "enrolled student", "quizId", ("student",), quiz_keys.kept_quiz_access, lambda access: access.relation == "enrolled",
    quizzes.TAKERS_ONLY, prefetch=quiz_keys.prefetch_quiz_course,
)

# Class relations (services/live/class_access.py): the answer is a `ClassAccess`.
def _class_course(found: Any) -> course_access.CourseAccess:
    course: course_access.CourseAccess = found.course
    return course


CLASS_MEMBER = Relation("class member", "classId", MEMBER_ROLES, class_access.require_member, _class_course)
CLASS_OWNER = Relation("owning tutor", "classId", ("tutor",), class_access.require_owner, _class_course)
CLASS_MANAGER = Relation("owning tutor, admin", "classId", MANAGER_ROLES, class_access.require_manager, _class_course)


@dataclass(frozen=True)
class Limit:
    """A request rate of an endpoint's own, on top of the general read and write limits:
    counted per `address` or per `user` against the setting named `setting` (per minute).

    `fail_open=False` for abuse-prone calls (joining a class, issuing tokens): while Redis
    is down they are refused with a 503 rather than served unmetered.
    """

    bucket: str
    per: Literal["address", "user"]
    setting: str
    fail_open: bool = True
    refusal: str = TOO_MANY  # the 429's words

    def start(self, ctx: AppContext, subject: str) -> asyncio.Future[Any]:
        """Sends this request's count against `subject` now (with what else starts in the
        same moment); `settle` judges it."""
        return start_limit(ctx, self.bucket, subject, getattr(ctx.settings, self.setting))

    async def settle(self, pending: asyncio.Future[Any]) -> None:
        await settle_limit(pending, fail_open=self.fail_open, refusal=self.refusal)

    async def apply(self, ctx: AppContext, req: func.HttpRequest, principal: Principal | None) -> None:
        subject = client_ip(req) if self.per == "address" or principal is None else principal.user_id
        await self.settle(self.start(ctx, subject))


# Joining hands out connection tokens, so it is abuse-prone: limited per address as well as
# per user, and refused (503) rather than unmetered while Redis is down.
JOINS_PER_ADDRESS = Limit("negotiate-ip", "address", "rate_limit_negotiate_per_ip_per_minute", fail_open=False)
JOINS_PER_USER = Limit(
    "negotiate", "user", "rate_limit_negotiate_per_minute", fail_open=False, refusal="Too many joins; wait a moment."
)
# Development tokens are free to mint, so their address pays for them (and fails closed).
TOKENS_PER_ADDRESS = Limit("dev-token", "address", "rate_limit_tokens_per_ip_per_minute", fail_open=False)


@dataclass(frozen=True)
class Call:
    """What a handler receives beside the request: the process's context, the verified
    caller (None on anonymous endpoints), the access its declared relation found and, for
    a relation read from the body or query, that parsed model."""

    ctx: AppContext
    caller: Principal | None = None
    access: Any = None
    body: Any = None  # the request body, when the relation read its id from it
    query: Any = None  # the query, when the relation read its id from it

    @property
    def principal(self) -> Principal:
        if self.caller is None:  # only an endpoint declared `auth=False` has none
            raise Unauthorized("This endpoint needs a signed-in caller.")
        return self.caller


async def authenticate(req: func.HttpRequest, *roles: str) -> Principal:
    """The verified caller with the roles their stored account grants (`platform/users.py`:
    the token may only narrow them); 401 without a valid token, 403 without one of `roles`,
    429 past the request rate of its address or of its user (reads and writes are counted
    apart, reads far more generously)."""
    principal, _, _ = await _admit(await get_context(), req, roles, None)
    return principal


async def _admit(
    ctx: AppContext, req: func.HttpRequest, roles: tuple[str, ...], relation: Relation | None,
    limits: tuple[Limit, ...] = (),
) -> tuple[Principal, Any, list[asyncio.Future[Any]]]:
    """`authenticate`, and the relation's prefetch and the endpoint's own limits sent in the
    same round trip.

    The address is counted whatever the token, so forged or expired ones are counted too
    (for the endpoint's per-address limits as well). Once the token is verified (a signature
    check, or a lookup for a token seen before), the user's counts, the stored roles and the
    relation's cache read are sent beside the address's: the batcher puts all of them in
    one pipeline, so the caller's checks, the endpoint's limits and the relation's read cost
    one round trip. The answers are then judged in the order the checks were always made:
    the address's 429, the user's 429, the stored account (401, 503), the role (403); the
    endpoint's limits (returned pending, in their order) are judged by the caller after it.
    """
    s = ctx.settings
    if req.method.upper() not in READ_METHODS:
        ip_bucket, ip_rate, user_bucket, user_rate = (
            "writes-ip", s.rate_limit_writes_per_ip_per_minute, "writes", s.rate_limit_writes_per_minute)
    else:
        ip_bucket, ip_rate, user_bucket, user_rate = (
            "reads-ip", s.rate_limit_reads_per_ip_per_minute, "reads", s.rate_limit_reads_per_minute)
    address = client_ip(req)
    by_address = start_limit(ctx, ip_bucket, address, ip_rate)
    own = [lim.start(ctx, address) if lim.per == "address" else None for lim in limits]
    try:
        claimed = await ctx.tokens.verify(bearer_token(req.headers))
    except BaseException:
        await settle_limit(by_address, fail_open=True)  # past the address's rate, that is the answer (429)
        raise
    by_user = start_limit(ctx, user_bucket, claimed.user_id, user_rate)
    counted = [sent if sent is not None else lim.start(ctx, claimed.user_id) for sent, lim in zip(own, limits, strict=True)]
    account = users.start_reading(ctx, claimed.user_id)
    prefetched = relation.start(ctx, req, claimed.user_id) if relation is not None else None
    await settle_limit(by_address, fail_open=True)
    await settle_limit(by_user, fail_open=True)
    principal = await users.authorize(ctx, claimed, pending=account)
    require_role(principal, roles)
    return principal, prefetched, counted


async def resolve(
    req: func.HttpRequest,
    *,
    auth: bool,
    roles: tuple[str, ...],
    relation: Relation | None,
    limits: tuple[Limit, ...] = (),
    request: type[BaseModel] | None = None,
    query_model: type[BaseModel] | None = None,
) -> Call:
    """The `Call` for one request, in the order the checks cost: 401/403/429 from
    `authenticate`, the endpoint's own limits, then 404 or 403 from the relation, all
    before the handler reads anything else of the request (but the body or query a
    relation reads its id from, parsed first: 400 when malformed)."""
    ctx = await get_context()
    if auth:
        principal, prefetched, pending = await _admit(ctx, req, roles, relation, limits)
        for limit, counted in zip(limits, pending, strict=True):
            await limit.settle(counted)
    else:
        principal, prefetched = None, None
        for limit in limits:
            await limit.apply(ctx, req, principal)
    if principal is None or relation is None:
        return Call(ctx, principal)
    if relation.source == "body" and request is not None:
        body = json_body(req, request)
        return Call(ctx, principal, await relation.resolve(ctx, principal, req, body), body=body)
    if relation.source == "query" and query_model is not None:
        q = query(req, query_model)
        return Call(ctx, principal, await relation.resolve(ctx, principal, req, q), query=q)
    return Call(ctx, principal, await relation.resolve(ctx, principal, req, prefetched=prefetched))
