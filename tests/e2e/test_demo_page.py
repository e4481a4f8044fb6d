"""The demo page (`/api/live/app`, its script bundled by esbuild on `@lectern/client`) in a real
browser: a tutor and two students, each picked from the seeded demo people and each in a
browser context of their own, run a class with a poll both students vote in (the tutor sees
the final counts), and a material goes from the tutor's browser straight to blob storage with
the upload SAS, is published, and comes back to a student's browser with the download SAS."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import expect

from tests.e2e.test_live_page import CHROMIUM_ARGS, chromium_path, input_value

pytestmark = pytest.mark.timeout(600)

WORKSHEET = "Week 1 worksheet\n1. Sketch a graph with five nodes.\n"


async def sign_in_as(page, url: str, person: str) -> None:
    """Picks one of the people `python -m shared_code.seed` makes, as a visitor would."""
    await page.goto(url)
    await page.select_option("#demo-user", label=person)
    await page.click("#demo-sign-in")
    await expect(page.locator("#who")).to_contain_text(person.split(" (")[0])


def test_the_page_runs_only_its_own_bundled_script(stack):
    page = httpx.get(stack.base_url.rstrip("/") + "/live/app")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy.split("script-src", 1)[1].split(";")[0]
    assert '<script type="module" src="app.js"></script>' in page.text
    assert page.text.count("<script") == 1
    script = httpx.get(stack.base_url.rstrip("/") + "/live/app.js")
    assert script.status_code == 200, "the bundle is built by `npm run build` (make bootstrap)"
    assert script.headers["content-type"].startswith("text/javascript")
    assert "json.reliable.webpubsub.azure.v1" in script.text  # @azure/web-pubsub-client, bundled


async def test_a_tutor_and_two_demo_students_poll_and_share_a_material_in_the_browser(stack, tmp_path):
    from playwright.async_api import async_playwright

    expect.set_options(timeout=20_000)
    executable = chromium_path()
    url = stack.base_url.rstrip("/") + "/live/app"
    worksheet = tmp_path / "worksheet.txt"
    worksheet.write_text(WORKSHEET)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            pages = []
            for _ in range(3):
                context = await browser.new_context(viewport={"width": 1280, "height": 900})
                context.set_default_timeout(20_000)
                pages.append(await context.new_page())
            tutor, sam, sara = pages
            errors: list[str] = []
            for page in pages:
                page.on("pageerror", lambda exc: errors.append(str(exc)))

            await sign_in_as(tutor, url, "Tess Tutor (tutor)")
            await tutor.click("#create-course")
            course_id = await input_value(tutor, "#course-id")
            await tutor.fill("#class-title", "Graphs, live")
            await tutor.click("#create-class")
            class_id = await input_value(tutor, "#class-id")
            await tutor.click("#start-class")
            await expect(tutor.locator("#toast")).to_contain_text("started")
            await tutor.click("#join")
            await expect(tutor.locator("#status")).to_have_text("live")

            for page, person in ((sam, "Sam Student (student)"), (sara, "Sara Student (student)")):
                await sign_in_as(page, url, person)
                await page.fill("#course-id", course_id)
                await page.click("#enrol")
                await expect(page.locator("#toast")).to_contain_text("Enrolled")
                await page.fill("#class-id", class_id)
                await page.click("#join")
                await expect(page.locator("#status")).to_have_text("live")
            for page in pages:
                await expect(page.locator("#presence")).to_have_text("3")

            await tutor.fill("#poll-question", "Which traversal first?")
            await tutor.fill("#poll-options", "Breadth-first\nDepth-first")
            await tutor.click("#open-poll")
            await sam.click('#poll .vote[data-option="0"]')
            await sara.click('#poll .vote[data-option="0"]')
            await expect(tutor.locator("#poll .option .count")).to_have_text(["2", "0"])
            await tutor.click("#close-poll")
            for page in pages:
                await expect(page.locator("#poll-status")).to_have_text("closed · 2 votes")
                await expect(page.locator("#poll .option .count")).to_have_text(["2", "0"])

            # The file goes from the tutor's browser to blob storage with the upload SAS.
            await tutor.set_input_files("#material-file", str(worksheet))
            await tutor.click("#upload-material")
            await expect(tutor.locator("#toast")).to_have_text("Uploaded worksheet.txt.")
            await tutor.click("#publish-material")
            await expect(tutor.locator("#toast")).to_have_text("Material published.")
            await expect(tutor.locator("#materials li")).to_have_count(1)

            await sam.click("#list-materials")
            await expect(sam.locator("#materials li")).to_contain_text(["worksheet.txt"])
            await sam.click("#materials li .download")
            await expect(sam.locator("#toast")).to_have_text("Downloaded worksheet.txt.")
            await expect(sam.locator("#material-preview")).to_have_text(WORKSHEET)
            assert errors == []
        finally:
            await browser.close()
