"""Material file names and types: the pure rules (no I/O) for what a tutor may upload and
what the blob and its download are called."""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta
from urllib.parse import quote

MAX_BLOB_FILE_NAME = 100
MAX_DISPLAY_NAME = 255
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# The file name's extension must be one of these for its declared type. A type the settings
# allow but this table does not know accepts no file at all: a new type needs its extensions.
EXTENSIONS: dict[str, frozenset[str]] = {
    "application/pdf": frozenset({"pdf"}),
    "image/png": frozenset({"png"}),
    "image/jpeg": frozenset({"jpg", "jpeg"}),
    "image/gif": frozenset({"gif"}),
    "image/webp": frozenset({"webp"}),
    "text/plain": frozenset({"txt", "text", "md"}),
    "text/csv": frozenset({"csv"}),
    "application/zip": frozenset({"zip"}),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": frozenset({"pptx"}),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": frozenset({"docx"}),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": frozenset({"xlsx"}),
}

# Pending uploads live under their own prefix, which the storage lifecycle rule empties.
UPLOAD_PREFIX = "uploads/"
UPLOAD_MAX_AGE = timedelta(days=1)
CLEANUP_BATCH = 200

# --- file names ------------------------------------------------------------------------
def display_name(file_name: str) -> str:
    """The name as the user knows it: the last path segment, without control characters."""
    base = re.split(r"[\\/]", file_name)[-1]
    return _shorten(_CONTROL.sub("", unicodedata.normalize("NFC", base)).strip(), MAX_DISPLAY_NAME)


def sanitise_file_name(file_name: str) -> str:
    """A blob-safe version of the name: ASCII letters, digits, '.', '-', '_'; never empty or hidden.

    The extension survives truncation so the blob still says what it is.
    """
    ascii_name = unicodedata.normalize("NFKD", display_name(file_name)).encode("ascii", "ignore").decode()
    stem, dot, ext = ascii_name.rpartition(".")
    if not dot:
        stem, ext = ascii_name, ""
    stem = re.sub(r"\.{2,}", ".", _UNSAFE.sub("_", stem)).strip("._-") or "file"
    ext = re.sub(r"[^A-Za-z0-9]", "", ext)[:16]
    return _shorten(f"{stem}.{ext}" if ext else stem, MAX_BLOB_FILE_NAME)


def _shorten(name: str, limit: int) -> str:
    """At most `limit` characters, keeping a short extension."""
    if len(name) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    if dot and stem and 0 < len(ext) <= 16:
        return stem[: limit - len(ext) - 1].rstrip("._- ") + "." + ext
    return name[:limit]


def content_disposition(file_name: str) -> str:
    """`attachment` with the original name: quoted ASCII, plus RFC 6266 `filename*` when it is not ASCII."""
    name = display_name(file_name) or "file"
    fallback = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    fallback = fallback.replace("\\", "_").replace('"', "'").strip() or "file"
    value = f'attachment; filename="{fallback}"'
    if fallback != name:
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return value


def normalise_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def extension_of(file_name: str) -> str:
    stem, dot, ext = display_name(file_name).rpartition(".")
    return ext.lower() if dot and stem else ""


def extension_fits(file_name: str, content_type: str) -> bool:
    """Whether the name's extension is one the declared type allows."""
    return extension_of(file_name) in EXTENSIONS.get(content_type, frozenset())


def blob_name_for(course_id: str, material_id: str, file_name: str) -> str:
    """Where a published material lives."""
    return f"courses/{course_id}/{material_id}/{sanitise_file_name(file_name)}"


def upload_blob_name_for(course_id: str, material_id: str, file_name: str) -> str:
    """Where an upload waits for publishing (the lifecycle rule's prefix)."""
    return f"{UPLOAD_PREFIX}{course_id}/{material_id}/{sanitise_file_name(file_name)}"
