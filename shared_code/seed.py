"""Demo data for `make up`, created through the public HTTP API so it exercises the contract.

`python -m shared_code.seed [--base-url http://127.0.0.1:7071/api]` makes a tutor, two
students and an admin (fixed ids, so running it twice finds them again), a published free
course with a video lesson (its video registered first), a document lesson naming a
published reading (downloading it completes the lesson), a quiz lesson with its quiz, a
live class scheduled an hour from now, and a paid course to buy through the local payment
stand-in (docs/payments.md); then prints a development token for each person.
`--tokens-only` prints fresh tokens and changes nothing (`make tokens`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

COURSE_TITLE = "Demo: Introduction to Data Science"
PAID_COURSE_TITLE = "Demo: Machine Learning in Practice (paid)"
PEOPLE = {
    "tutor": ("6f1c2b1e-6c1f-4f8e-9a44-0a0000000001", "Tess Tutor", ["tutor"]),
    "student1": ("6f1c2b1e-6c1f-4f8e-9a44-0a0000000002", "Sam Student", ["student"]),
    "student2": ("6f1c2b1e-6c1f-4f8e-9a44-0a0000000003", "Sara Student", ["student"]),
    "admin": ("6f1c2b1e-6c1f-4f8e-9a44-0a0000000004", "Ada Admin", ["admin"]),
}


class Api:
    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session, self.base = session, base.rstrip("/")

    async def call(
        self, method: str, path: str, token: str | None = None, json: object = None, ok: tuple[int, ...] = (200, 201, 202, 204)
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.request(method, f"{self.base}/{path}", json=json, headers=headers) as resp:
            body = await resp.json(content_type=None) if resp.status != 204 else None
            if resp.status not in ok:
                raise RuntimeError(f"{method} /{path} answered {resp.status}: {body}")
            return body


READING = b"%PDF-1.4\n% Lectern demo reading: the notebook\n"


async def published_material(api: Api, tutor: str, course_id: str) -> str:
    """Uploads the demo reading straight to Blob storage through its SAS and publishes it."""
    grant = await api.call("POST", f"courses/{course_id}/materials/uploads", tutor,
                           {"fileName": "notebook.pdf", "contentType": "application/pdf", "sizeBytes": len(READING)})
    async with api.session.put(grant["uploadUrl"], data=READING, headers=grant.get("requiredHeaders") or {}) as put:
        if put.status != 201:
            raise RuntimeError(f"uploading the demo reading answered {put.status}")
    await api.call("POST", f"materials/{grant['materialId']}/publish", tutor)
    return str(grant["materialId"])


async def link_documents(api: Api, tutor: str, course_id: str) -> None:
    """A course seeded before document lessons named their material: each document lesson
    without one gets the demo reading, so the course can be completed end to end."""
    detail = await api.call("GET", f"courses/{course_id}", tutor)
    for lesson in detail.get("lessons", []):
        if lesson["kind"] == "document" and not lesson.get("materialId"):
            material_id = await published_material(api, tutor, course_id)
            await api.call("PATCH", f"lessons/{lesson['id']}", tutor, {"materialId": material_id})


async def seed(base_url: str, *, tokens_only: bool = False) -> dict[str, str]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        api = Api(session, base_url)
        tokens: dict[str, str] = {}
        for key, (user_id, name, roles) in PEOPLE.items():
            body = await api.call("POST", "dev/token", json={"userId": user_id, "name": name, "roles": roles})
            tokens[key] = body["token"]
        if tokens_only:
            return tokens
        tutor = tokens["tutor"]

        listing = await api.call("GET", "courses?limit=200", tutor)
        course = next((c for c in listing["items"] if c["title"] == COURSE_TITLE), None)
        if course is None:
            course = await api.call(
                "POST", "courses", tutor,
                {"title": COURSE_TITLE, "description": "Statistics, Python and a first model, in three lessons."},
            )
            cid = course["id"]
            # A lesson may show only a video its tutor registered; its length comes from the registry.
            video = await api.call("POST", "videos", tutor, {"title": "Welcome and tour", "durationSeconds": 300})
            await api.call("POST", f"courses/{cid}/lessons", tutor,
                           {"title": "Welcome and tour", "kind": "video", "videoAssetId": video["id"]})
            # A document lesson completes when an enrolled student downloads the material it names.
            reading = await published_material(api, tutor, cid)
            await api.call("POST", f"courses/{cid}/lessons", tutor,
                           {"title": "Reading: the notebook", "kind": "document", "materialId": reading})
            quiz_lesson = await api.call("POST", f"courses/{cid}/lessons", tutor, {"title": "Check yourself", "kind": "quiz"})
            await api.call(
                "POST",
                "quizzes",
                tutor,
                {
                    "lessonId": quiz_lesson["id"],
                    "title": "Basics",
                    "questions": [
                        {"prompt": "What is the mean of 2, 4 and 6?", "options": ["3", "4", "6"], "correct": [1], "points": 1},
                        {
                            "prompt": "Which are Python data structures?",
                            "options": ["list", "tuple", "spreadsheet"],
                            "correct": [0, 1],
                            "points": 2,
                        },
                    ],
                },
            )
            await api.call("PATCH", f"courses/{cid}", tutor, {"published": True})
            await api.call("POST", "classes", tutor, {
                "courseId": cid,
                "title": "Live Q&A",
                "scheduledAt": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
            })
        cid = course["id"]
        await link_documents(api, tutor, cid)
        for student in ("student1", "student2"):
            await api.call("POST", f"courses/{cid}/enrollments", tokens[student], {}, ok=(200, 201))
        tokens["courseId"] = cid
        paid = next((c for c in listing["items"] if c["title"] == PAID_COURSE_TITLE), None)
        if paid is None:
            paid = await api.call("POST", "courses", tutor, {
                "title": PAID_COURSE_TITLE, "description": "Buy it to try checkout end to end.", "priceCents": 1900,
            })
        if not paid.get("published"):
            # A first run that stopped half-way left a draft: finish it rather than skip it.
            detail = await api.call("GET", f"courses/{paid['id']}", tutor)
            if not detail.get("lessons"):
                paid_video = await api.call("POST", "videos", tutor, {"title": "Your first model", "durationSeconds": 600})
                await api.call("POST", f"courses/{paid['id']}/lessons", tutor,
                               {"title": "Your first model", "kind": "video", "videoAssetId": paid_video["id"]})
            await api.call("PATCH", f"courses/{paid['id']}", tutor, {"published": True})
        tokens["paidCourseId"] = paid["id"]
        return tokens


def main() -> int:
    parser = argparse.ArgumentParser(description="Seed Lectern's demo data through its API.")
    parser.add_argument("--base-url", default="http://127.0.0.1:7071/api")
    parser.add_argument("--tokens-only", action="store_true", help="only print fresh tokens for the demo people (`make tokens`)")
    args = parser.parse_args()
    try:
        tokens = asyncio.run(seed(args.base_url, tokens_only=args.tokens_only))
    except Exception as exc:  # noqa: BLE001 - a CLI reports, it does not trace
        print(f"seeding failed: {exc}", file=sys.stderr)
        return 1
    if "courseId" in tokens:
        print(f"demo course: {tokens.pop('courseId')}")
    if "paidCourseId" in tokens:
        print(f"paid demo course: {tokens.pop('paidCourseId')} (POST /api/courses/<id>/checkout, then open checkoutUrl)")
    print(f"try a live class: {args.base_url.rstrip('/')}/live/app (paste a token below)")
    for key, (user_id, name, _) in PEOPLE.items():
        print(f"{name} ({key}, {user_id}):\n  {tokens[key]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
