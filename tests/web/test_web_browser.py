"""The pages in a real browser (Debian's Chromium, driven by Playwright): what a reader
clicks, what updates by itself, and that hostile text never runs."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from web_face import start_face

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
COMMAND = Path(sys.executable).parent / "incident-bot"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="Chromium is not installed (`make test` installs Debian's chromium as root)",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as play:
        launched = play.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(accept_downloads=True)  # type: ignore[attr-defined]
    opened = context.new_page()
    problems: list[str] = []
    opened.on(
        "dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss())
    )
    opened.on("console", lambda message: message.type == "error" and problems.append(message.text))
    opened.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    opened.problems = problems
    yield opened
    context.close()


@pytest.fixture(scope="module")
def site(filled_database: str) -> Iterator[str]:
    face = start_face(filled_database)
    try:
        yield face.url
    finally:
        face.stop()


def test_list_open_filter_search_and_download(page: object, site: str, tmp_path: Path) -> None:
    page.goto(site + "/")
    rows = page.locator("table.incidents tbody tr")
    assert rows.count() == 2
    page.select_option("select[name=status]", "closed")
    page.click("form.filters button")
    assert rows.count() == 1
    assert "Checkout returns 502" in rows.first.inner_text()
    page.fill("input[name=q]", "nothing like this")
    page.click("form.filters button")
    assert page.locator("text=No incident matches").is_visible()
    page.goto(site + "/?q=checkout")
    page.screenshot(path=str(SCREENSHOTS / "incidents.png"), full_page=True)
    page.click("text=Checkout returns 502 after certificate rotation")
    assert page.locator("h1").inner_text().startswith("Incident 1:")
    assert page.locator("ol.timeline li.entry-backdated").count() == 1
    # The bookkeeping is folded away until asked for.
    assert not page.locator("details.bookkeeping li").first.is_visible()
    page.click("details.bookkeeping summary")
    assert page.locator("details.bookkeeping li").first.is_visible()
    frame = page.frame_locator("iframe.preview")
    assert "Checkout returns 502" in frame.locator("h1").first.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "incident.png"), full_page=True)
    for label, suffix in (("Markdown", ".md"), ("HTML", ".html"), ("Word", ".docx")):
        with page.expect_download() as download:
            page.click(f"p.downloads >> text={label}")
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
        assert saved.suffix == suffix and saved.stat().st_size > 500
    assert page.problems == []


def test_beyond_loopback_a_reader_logs_in_and_is_refused_without_the_token(
    page: object, filled_database: str
) -> None:
    # Listens on every interface, so the login is required; the browser only ever
    # connects to 127.0.0.1.
    token = "a-long-enough-browser-token-0123456789"
    face = start_face(filled_database, INCIDENT_BOT_HTTP_HOST="0.0.0.0",
                      INCIDENT_BOT_WEB_TOKEN=token)
    try:
        site = face.url.replace("0.0.0.0", "127.0.0.1")
        page.goto(site + "/incidents/console/1")
        assert "/login?next=" in page.url
        assert "Checkout returns 502" not in page.content()
        page.fill("input[name=token]", "not-the-token-at-all-0123")
        page.click("form.login button")
        assert page.locator("p.problem").inner_text().startswith("That is not the token.")
        assert "Checkout returns 502" not in page.content()
        page.fill("input[name=token]", token)
        page.click("form.login button")
        page.wait_for_url(site + "/incidents/console/1")
        assert page.locator("h1").inner_text().startswith("Incident 1:")
        page.goto(site + "/")  # the cookie holds on the next page
        assert page.locator("table.incidents tbody tr").count() == 2
        cookies = page.context.cookies()
        assert [c["httpOnly"] for c in cookies] == [True]
        assert token not in str(cookies)
    finally:
        face.stop()


def test_insights_draw_charts(page: object, site: str) -> None:
    page.goto(site + "/insights?by=month")
    assert page.locator("svg.chart rect").count() >= 2
    page.screenshot(path=str(SCREENSHOTS / "insights.png"), full_page=True)
    assert page.problems == []


def test_a_phone_sized_screen_keeps_the_page_readable(browser: object, site: str) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})  # type: ignore[attr-defined]
    opened = context.new_page()
    opened.goto(site + "/incidents/console/1")
    overflow = opened.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1  # nothing wider than the phone's screen
    opened.screenshot(path=str(SCREENSHOTS / "incident-phone.png"), full_page=True)
    context.close()


def test_hostile_text_never_runs(page: object, site: str) -> None:
    for path in ("/", "/incidents/console/2", "/incidents/console/2/draft?format=html"):
        page.goto(site + path)
        page.wait_for_load_state("load")
    assert page.problems == []
    page.goto(site + "/incidents/console/2")
    assert '<script>alert("title")</script>' in page.locator("h1").inner_text()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_open_incident_page_follows_pins_from_the_console(page: object, tmp_path: Path) -> None:
    """`incident-bot run` with the console on a pipe, the page open in the browser: a 📌
    in the console shows on the page without a reload."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENT_BOT_")}
    env.update(
        INCIDENT_BOT_DATABASE_URL=f"sqlite:///{tmp_path / 'live.db'}",
        INCIDENT_BOT_HTTP_PORT=str(port),
        INCIDENT_BOT_TIMEZONE="Europe/Oslo",
    )
    bot = subprocess.Popen(
        [str(COMMAND), "run"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, cwd=tmp_path, env=env, text=True,
    )  # fmt: skip
    assert bot.stdin is not None
    try:
        bot.stdin.write("[2025-03-04 14:02] maria: /incident start Payments are slow\n")
        bot.stdin.flush()
        site = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                page.goto(site + "/incidents/console/1")
                if page.locator("h1").inner_text().startswith("Incident 1"):
                    break
            except playwright_api.Error:
                pass
            assert time.monotonic() < deadline, "the page never showed the incident"
            time.sleep(0.3)
        page.problems.clear()  # the 404s of the polls before the incident existed
        marker = page.evaluate("document.body.getAttribute('data-updated')")
        assert marker is None
        bot.stdin.write(
            "[14:05] li: Payment queue depth is 40k and rising\n[14:06] li: +:pushpin:\n"
        )
        bot.stdin.flush()
        entry = page.locator("ol.timeline li.entry-tagged", has_text="Payment queue depth")
        entry.wait_for(timeout=20_000)
        assert page.evaluate("document.body.getAttribute('data-updated')") is not None
        assert "14:05" in entry.inner_text()  # at the time it was posted, not pinned
        assert page.problems == []
    finally:
        bot.stdin.close()
        try:
            bot.wait(timeout=20)
        except subprocess.TimeoutExpired:
            bot.kill()
