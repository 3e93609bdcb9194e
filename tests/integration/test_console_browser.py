"""The web console in a real, headless browser (the system's Chromium, through Playwright) against the
whole stack: emulator, supervisor and station. An operator opens the console, sends PING and sees it
complete, sees housekeeping move, starts a small training job and sees its loss curve grow. A
screenshot of every page goes to ``artifacts/console/`` (ZENITH_ARTIFACTS overrides the folder).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from flight.jobs.shakespeare import prepared
from hil.stack import Stack, StackOptions
from tests.ground.web.conftest import serving

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("one_training_at_a_time")]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# No sandbox (CI runs as root), no GPU, nothing fetched in the background: the flags Chromium needs here.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(os.environ.get("ZENITH_ARTIFACTS", "artifacts")) / "console"
PAGES = ("telemetry", "events", "commands", "jobs", "link", "files", "power")
PASSES = '\n[ground.passes]\norbit = "default"\nstations = ["redmond", "hartebeesthoek"]\n'
TRAINING = {"config": "shakespeare_cpu", "max_iters": 200, "log_interval": 10, "checkpoint_interval": 100}


def _tab(page: Page, name: str) -> None:
    page.click(f"#tabs button[data-page='{name}']")
    expect(page.locator(f"#page-{name}")).to_be_visible()


def _click_and_accepted(page: Page, button: str, path: str) -> None:
    """Click, and see the console's API take the POST it makes (the page shows a refusal otherwise)."""
    with page.expect_response(lambda r: r.url.endswith(path) and r.request.method == "POST") as response:
        page.click(button)
    assert response.value.status == 200, response.value.text()


def _send(page: Page, command: str, **arguments: str) -> None:
    _tab(page, "commands")
    page.select_option("#cmd-name", command)
    for name, value in arguments.items():
        field = page.locator(f"#cmd-form [name='{name}']")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    _click_and_accepted(page, "#cmd-send", "/api/commands")


def test_an_operator_flies_the_payload_from_the_console(tmp_path: Path) -> None:
    assert shutil.which(CHROMIUM) or Path(CHROMIUM).exists(), \
        f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium package (or set CHROMIUM)"
    prepared()  # the corpus, fetched once per machine, before the clock starts
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    options = StackOptions(out=tmp_path, ground_toml=PASSES)
    with Stack(options) as stack, serving(stack.mission) as url, sync_playwright() as play:
        token = (tmp_path / "ground.token").read_text().strip()
        browser = play.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url)
            expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=30_000)
            expect(page.locator("#connection")).to_have_text("live", timeout=10_000)

            # Housekeeping moves: the spacecraft clock's row shows a newer time than when first seen.
            clock = page.locator("#page-telemetry tr[data-channel='clock.time'] [data-value]")
            expect(clock).not_to_have_text("—", timeout=30_000)
            first = clock.inner_text()
            expect(clock).not_to_have_text(first, timeout=30_000)

            # PING from the command page, completed as the payload's verification reports say.
            _tab(page, "commands")
            page.fill("#token", token)
            _send(page, "PING")
            ping = page.locator("#cmd-history tr", has_text="PING").first
            expect(ping.locator("[data-stages]")).to_contain_text("completion", timeout=60_000)
            expect(ping.locator(".stage-bad")).to_have_count(0)

            # A wrong token is refused, named on the page, and nothing goes up.
            page.fill("#token", "not-the-token")
            page.select_option("#cmd-name", "PING")
            page.click("#cmd-send")
            expect(page.locator("#cmd-error")).to_contain_text("token")
            page.fill("#token", token)

            # A small training job: its loss curve grows on the jobs page.
            _send(page, "JOB_START", kind="TRAIN", config=json.dumps(TRAINING))
            _tab(page, "jobs")
            state = page.locator("#page-jobs tr[data-channel='job.state'] [data-value]")
            expect(state).to_have_text("RUNNING", timeout=120_000)
            page.wait_for_function("() => Number(document.querySelector("
                                   "\"#page-jobs tr[data-channel='job.step'] [data-value]\").textContent) >= 20",
                                   timeout=120_000)
            plot = page.locator("#page-jobs canvas")
            expect(plot).to_have_attribute("data-channel", "job.loss")
            page.wait_for_function("() => Number(document.querySelector('#page-jobs canvas').dataset.points) >= 1",
                                   timeout=120_000)
            seen = int(plot.get_attribute("data-points") or 0)
            page.wait_for_function(
                f"() => Number(document.querySelector('#page-jobs canvas').dataset.points) >= {seen + 3}",
                timeout=120_000)

            # The job's own reports: its heading gives the step and loss it sent down last.
            expect(page.locator("#jobs-detail .job h2").first).to_contain_text("loss", timeout=60_000)

            # A file from the payload by CFDP, then to the browser: the payload's filestore holds a note.
            note = b"To the ground team: all is well aboard.\n" * 50
            (tmp_path / "files" / "note.txt").write_bytes(note)
            _tab(page, "files")
            page.fill("#fetch-remote", "note.txt")
            _click_and_accepted(page, "#fetch", "/api/files")
            row = page.locator("#transfers tr", has_text="note.txt").first
            expect(row).to_contain_text("verified", timeout=60_000)
            with page.expect_download() as download:
                row.locator("a", has_text="download").click()
            assert Path(download.value.path()).read_bytes() == note

            # The link page: COP-1 running, the CLCW heard, the next passes predicted.
            _tab(page, "link")
            expect(page.locator("#station-status")).to_contain_text("ACTIVE", timeout=10_000)
            expect(page.locator("#station-status")).not_to_contain_text("none yet")
            expect(page.locator("#passes tbody tr").first).to_contain_text("°")  # a predicted pass, elevation and all

            for name in PAGES:
                _tab(page, name)
                page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        finally:
            browser.close()
    assert all((ARTIFACTS / f"{name}.png").stat().st_size > 0 for name in PAGES)
