"""Signed playback URLs for the external video CDN.

The URL is `<VIDEO_CDN_BASE_URL>/<playbackId>.m3u8?token=<JWT>`, the shape Mux signed
playback uses: an RS256 token naming its key (`kid`; adapters/mux_signing.py; HS256 only in
development) whose claims carry the asset (`sub`), the
viewer (`vid`), the audience `v` (video) and the expiry (`exp`). The CDN edge holds the
same key and runs `verify_playback_url`; nothing else is needed to check a URL, so a
copied link stops working at its expiry and cannot be moved to another asset. The
playback id comes from the video registry (`services.content.videos`), never from the lesson's
own text, so a lesson can only play a video its course's tutor registered.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

from shared_code.adapters import mux_signing
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.errors import Forbidden, Invalid, ServiceUnavailable
from shared_code.models.content import Playback
from shared_code.platform.access import CourseAccess, lesson_access, require_deliverable
from shared_code.services.content.access_log import record_access
from shared_code.services.content.videos import registered_asset

AUDIENCE = "v"
ALGORITHM = "HS256"
_ASSET = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
# RFC 7518 asks for an HS256 key at least as long as the hash (32 bytes); shorter is refused.
MIN_KEY_BYTES = 32


class PlaybackRefused(Exception):
    """The URL is not one this key signed for this asset, or it has expired."""


@dataclass(frozen=True)
class PlaybackGrant:
    asset_id: str
    viewer_id: str
    expires_at: datetime


def sign_playback_url(
    *, base_url: str, signing_key: str, asset_id: str, viewer_id: str, expires_at: datetime,
    key_id: str = "", allow_shared_secret: bool = True,
) -> str:
    if not _ASSET.match(asset_id):
        raise ValueError("asset ids are letters, digits, '-' and '_' only")
    if mux_signing.is_signing_key(signing_key):  # RS256 with `kid`, as Mux verifies (adapters/mux_signing.py)
        token = mux_signing.sign_token(
            key_id=key_id, private_key_value=signing_key, playback_id=asset_id, expires_at=expires_at, claims={"vid": viewer_id}
        )
        return f"{base_url.rstrip('/')}/{asset_id}.m3u8?token={token}"
    if not allow_shared_secret or len(signing_key.encode()) < MIN_KEY_BYTES:
        raise ValueError("the video signing key is missing or too short")
    claims = {"sub": asset_id, "aud": AUDIENCE, "vid": viewer_id, "exp": int(expires_at.timestamp())}
    token = jwt.encode(claims, signing_key, algorithm=ALGORITHM)
    return f"{base_url.rstrip('/')}/{asset_id}.m3u8?token={token}"


def playback_expiry(minutes: int, *, now: datetime | None = None) -> datetime:
    """Whole seconds, because the token's `exp` is; the response then states the exact expiry."""
    moment = (now or datetime.now(UTC)) + timedelta(minutes=minutes)
    return moment.replace(microsecond=0)


def verify_playback_url(url: str, *, signing_key: str, base_url: str, now: float | None = None, key_id: str = "") -> PlaybackGrant:
    """What the CDN edge runs: the grant a URL carries, or PlaybackRefused."""
    parts = urlsplit(url)
    base = urlsplit(base_url.rstrip("/"))
    if (parts.scheme, parts.netloc.lower()) != (base.scheme, base.netloc.lower()):
        raise PlaybackRefused("the URL is not on this CDN")
    prefix = base.path.rstrip("/") + "/"
    if not parts.path.startswith(prefix) or not parts.path.endswith(".m3u8"):
        raise PlaybackRefused("the URL does not name a playlist")
    asset_id = parts.path[len(prefix) : -len(".m3u8")]
    tokens = parse_qs(parts.query).get("token", [])
    if len(tokens) != 1:
        raise PlaybackRefused("the URL must carry exactly one token")
    current = time.time() if now is None else now
    if mux_signing.is_signing_key(signing_key):
        try:
            claims = mux_signing.verify_token(
                tokens[0], public_keys=mux_signing.public_keys_for(key_id, signing_key), playback_id=asset_id, now=current
            )
        except mux_signing.TokenRefused as exc:
            raise PlaybackRefused(str(exc)) from None
        return PlaybackGrant(
            asset_id=asset_id, viewer_id=str(claims.get("vid", "")), expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=UTC)
        )
    try:
        claims = jwt.decode(
            tokens[0],
            signing_key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"require": ["sub", "aud", "exp", "vid"], "verify_exp": False},
        )
    except jwt.PyJWTError as exc:
        raise PlaybackRefused(f"the token is not valid: {exc}") from None
    # Expiry is checked here, against `now`, so the edge (and tests) can pass their clock.
    current = time.time() if now is None else now
    if int(claims["exp"]) <= current:
        raise PlaybackRefused("the URL has expired")
    if claims["sub"] != asset_id:
        raise PlaybackRefused("the token was issued for another asset")
    return PlaybackGrant(
        asset_id=asset_id,
        viewer_id=str(claims["vid"]),
        expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=UTC),
    )


def signed_url(ctx: AppContext, playback_id: str, *, viewer_id: str) -> tuple[str, datetime]:
    """A signed playback URL for one registered asset and viewer, with its expiry (503 when unconfigured)."""
    settings = ctx.settings
    expires_at = playback_expiry(settings.video_url_minutes)
    try:
        url = sign_playback_url(
            base_url=settings.video_cdn_base_url,
            signing_key=settings.video_signing_key.get_secret_value(),
            asset_id=playback_id,
            viewer_id=viewer_id,
            expires_at=expires_at,
            key_id=settings.video_signing_key_id,
            allow_shared_secret=settings.is_development,
        )
    except ValueError:
        raise ServiceUnavailable("Video playback is not configured on this server.", retry_after=60) from None
    return url, expires_at


async def issue_playback(
    ctx: AppContext,
    principal: Principal,
    lesson_id: str,
    *,
    user_agent: str | None,
    found: tuple[dict[str, Any], CourseAccess] | None = None,
) -> Playback:
    """A signed URL for an enrolled student, the owning tutor or an admin; logged as content access.

    `found` is what the endpoint's relation check read (the lesson and the caller's access)."""
    lesson, access = found or await lesson_access(ctx, principal, lesson_id)
    if not access.is_member:
        raise Forbidden("Only students enrolled in this course, its tutor and admins may watch its videos.")
    require_deliverable(access)
    if lesson["kind"] != "video" or not lesson["video_asset_id"]:
        raise Invalid("This lesson has no video to play.")
    # The registry, not the lesson's text, says what the CDN streams: an id that no tutor
    # registered (a lesson from before the registry) plays nothing.
    asset = await registered_asset(ctx, lesson["video_asset_id"])
    if asset is None:
        raise Invalid("This lesson's video is not registered.")
    url, expires_at = signed_url(ctx, asset.playback_id, viewer_id=principal.user_id)
    await record_access(
        ctx,
        course_id=access.course_id,
        user_id=principal.user_id,
        kind="playback",
        target_id=lesson_id,
        user_agent=user_agent,
        expires_at=expires_at,
    )
    return Playback(url=url, expires_at=expires_at)
