"""The live-class page in a real browser (Debian's headless Chromium): a tutor and two students
sign in with development tokens, join, the tutor opens a poll, both students vote, everyone
sees the tally and a chat message. The tutor's page is photographed; with
LECTERN_UPDATE_SCREENSHOT=1 the photo replaces docs/live-class.png (the README's picture),
so ordinary test runs leave the work tree alone."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from playwright.async_api import expect

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "live-class.png"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

# Generous: on a fresh machine the first run installs Chromium from Debian's packages.
pytestmark = pytest.mark.timeout(900)


def chromium_path() -> str:
    """Installs Debian's Chromium when it is missing (the script is idempotent)."""
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "ensure_chromium.sh")], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


async def sign_in(page, url: str, name: str, role: str) -> None:
    await page.goto(url)
    await page.fill("#name", name)
    await page.select_option("#role", role)
    await page.click("#sign-in")
    await expect(page.locator("#who")).to_contain_text(name)


async def input_value(page, selector: str) -> str:
    await expect(page.locator(selector)).not_to_have_value("")
    return await page.input_value(selector)


async def test_a_tutor_and_two_students_run_a_poll_and_chat_in_the_browser(stack, tmp_path):
    from playwright.async_api import async_playwright

    expect.set_options(timeout=20_000)
    executable = chromium_path()
    url = stack.base_url.rstrip("/") + "/live/app"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            pages = []
            for _ in range(3):
                context = await browser.new_context(viewport={"width": 1280, "height": 860})
                context.set_default_timeout(20_000)
                pages.append(await context.new_page())
            tutor, ada, bo = pages
            errors: list[str] = []
            for page in pages:
                page.on("pageerror", lambda exc: errors.append(str(exc)))

            await sign_in(tutor, url, "Tutor Tess", "tutor")
            await tutor.click("#create-course")
            course_id = await input_value(tutor, "#course-id")
            await tutor.fill("#class-title", "Algorithms live")
            await tutor.click("#create-class")
            class_id = await input_value(tutor, "#class-id")
            await tutor.click("#start-class")
            await expect(tutor.locator("#toast")).to_contain_text("started")
            await tutor.click("#join")
            await expect(tutor.locator("#status")).to_have_text("live")

            for page, name in ((ada, "Ada"), (bo, "Bo")):
                await sign_in(page, url, name, "student")
                await page.fill("#course-id", course_id)
                await page.click("#enrol")
                await expect(page.locator("#toast")).to_contain_text("Enrolled")
                await page.fill("#class-id", class_id)
                await page.click("#join")
                await expect(page.locator("#status")).to_have_text("live")
            for page in pages:
                await expect(page.locator("#presence")).to_have_text("3")

            await tutor.fill("#poll-question", "Which topic next?")
            await tutor.fill("#poll-options", "Graphs\nDynamic programming\nHeaps")
            await tutor.click("#open-poll")
            await ada.click('#poll .vote[data-option="0"]')
            await bo.click('#poll .vote[data-option="1"]')
            for page in pages:
                await expect(page.locator("#poll .option .count")).to_have_text(["1", "1", "0"])

            await ada.fill("#chat-input", "Graphs, please!")
            await ada.click("#chat-send")
            await bo.click("#raise-hand")
            await bo.click('.reactions button:has-text("👏")')
            for page in pages:
                await expect(page.locator("#chat-log .msg .text").filter(has_text="Graphs, please!")).to_have_count(1)
            await expect(tutor.locator("#hands li")).to_have_count(1)
            assert "Bo" in await tutor.inner_text("#hands")
            assert await ada.input_value("#chat-input") == ""
            await expect(tutor.locator("#reaction-burst")).to_contain_text("👏")

            shot = tmp_path / "live-class.png"
            await tutor.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            if os.environ.get("LECTERN_UPDATE_SCREENSHOT") == "1":
                shutil.copyfile(shot, SCREENSHOT)
            assert errors == []
        finally:
            await browser.close()
