"""Scenario helpers for completion by lesson kind and certificates, through the public API."""

from __future__ import annotations

import re
import zlib

import httpx

from tests.support.actors import Actor
from tests.support.content import add_lesson, eventually, upload_material

QUESTIONS = [
    {"prompt": "2 + 2?", "options": ["3", "4"], "correct": [1], "points": 1},
    {"prompt": "3 + 3?", "options": ["6", "7"], "correct": [0], "points": 1},
    {"prompt": "4 + 4?", "options": ["8", "9"], "correct": [0], "points": 1},
]
ALL_RIGHT = [[1], [0], [0]]
TWO_RIGHT = [[1], [0], [1]]  # 2 of 3: 66 %
ONE_RIGHT = [[1], [1], [1]]  # 1 of 3: 33 %


async def quiz_lesson(api: httpx.AsyncClient, tutor: Actor, course_id: str, **quiz_fields) -> tuple[dict, dict]:
    """A quiz lesson with a three-question quiz: (lesson, quiz)."""
    lesson = await add_lesson(api, tutor, course_id, title="Check yourself", kind="quiz")
    resp = await api.post(
        "quizzes", headers=tutor.headers,
        json={"lessonId": lesson["id"], "title": "Sums", "questions": QUESTIONS, "maxAttempts": 10, **quiz_fields},
    )
    assert resp.status_code == 201, resp.text
    return lesson, resp.json()


async def document_lesson(api: httpx.AsyncClient, tutor: Actor, course_id: str) -> tuple[dict, str]:
    """A published PDF material and a document lesson that names it: (lesson, material id)."""
    grant = await upload_material(api, tutor, course_id, b"%PDF-1.4 reading", file_name="reading.pdf",
                                  content_type="application/pdf")
    material_id = grant["materialId"]
    published = await api.post(f"materials/{material_id}/publish", headers=tutor.headers)
    assert published.status_code == 200, published.text
    lesson = await add_lesson(api, tutor, course_id, title="Reading", kind="document", materialId=material_id)
    assert lesson["materialId"] == material_id
    return lesson, material_id


async def attempt(api: httpx.AsyncClient, student: Actor, quiz_id: str, answers: list, key: str) -> dict:
    resp = await api.post(
        f"quizzes/{quiz_id}/attempts", json={"answers": answers}, headers={**student.headers, "Idempotency-Key": key}
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


async def course_entry(api: httpx.AsyncClient, student: Actor, course_id: str) -> dict:
    resp = await api.get("me/dashboard", headers=student.headers)
    assert resp.status_code == 200, resp.text
    (entry,) = [c for c in resp.json()["courses"] if c["courseId"] == course_id]
    return entry


async def lesson_completions(api: httpx.AsyncClient, tutor: Actor, course_id: str, lesson_id: str) -> int:
    """How many students completed the lesson, from the tutor's analytics funnel."""
    resp = await api.get(f"courses/{course_id}/analytics", headers=tutor.headers)
    assert resp.status_code == 200, resp.text
    (row,) = [r for r in resp.json()["lessons"] if r["lessonId"] == lesson_id]
    return int(row["completed"])


async def certificates(api: httpx.AsyncClient, student: Actor) -> list[dict]:
    resp = await api.get("me/certificates", headers=student.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]


async def rendered_certificate(api: httpx.AsyncClient, student: Actor, course_id: str) -> dict:
    """The student's certificate for the course once its PDF is ready (rendered off the request)."""

    async def ready() -> dict | None:
        found = [c for c in await certificates(api, student) if c["courseId"] == course_id]
        return found[0] if found and found[0]["pdfReady"] else None

    return await eventually(ready, timeout=30, interval=0.3)


def _stream(body: bytes) -> bytes:
    match = re.search(rb"stream\r?\n(.*?)\r?\nendstream", body, re.S)
    if match is None:
        return b""
    try:
        return zlib.decompress(match.group(1))
    except zlib.error:
        return match.group(1)


def _literal(raw: bytes) -> bytes:
    """A PDF literal string's bytes, its backslash escapes undone."""
    out, i = bytearray(), 0
    escapes = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("f"): 12}
    while i < len(raw):
        byte = raw[i]
        if byte != 0x5C:  # backslash
            out.append(byte)
            i += 1
            continue
        nxt = raw[i + 1]
        if nxt in escapes:
            out.append(escapes[nxt])
            i += 2
        elif 0x30 <= nxt <= 0x37:
            digits = re.match(rb"[0-7]{1,3}", raw[i + 1:i + 4])
            assert digits is not None
            out.append(int(digits.group(0), 8) & 0xFF)
            i += 1 + len(digits.group(0))
        else:
            out.append(nxt)
            i += 2
    return bytes(out)


def pdf_text(data: bytes) -> str:
    """The text of a PDF fpdf2 wrote with embedded Unicode fonts, one shown string per line:
    each string's glyph codes read through its font's ToUnicode map."""
    objects = {int(n): body for n, body in re.findall(rb"(\d+) 0 obj(.*?)endobj", data, re.S)}
    maps: dict[bytes, dict[int, str]] = {}
    for name, number in re.findall(rb"/(F\d+) (\d+) 0 R", data):
        to_unicode = re.search(rb"/ToUnicode (\d+) 0 R", objects[int(number)])
        if to_unicode is None:
            continue
        cmap = _stream(objects[int(to_unicode.group(1))])
        maps[name] = {int(code, 16): chr(int(char, 16))
                      for code, char in re.findall(rb"<([0-9A-F]{4})> <([0-9A-F]{4,8})>", cmap)}
    lines: list[str] = []
    for body in objects.values():
        content = _stream(body)
        if b" Tj" not in content:
            continue
        font: dict[int, str] = {}
        for name, shown in re.findall(rb"/(F\d+) [\d.]+ Tf|\(((?:\\.|[^\\)])*)\) Tj", content, re.S):
            if name:
                font = maps.get(name, {})
                continue
            glyphs = _literal(shown)
            lines.append("".join(font.get(int.from_bytes(glyphs[i:i + 2], "big"), "\ufffd")
                                 for i in range(0, len(glyphs) - 1, 2)))
    return "\n".join(lines)
