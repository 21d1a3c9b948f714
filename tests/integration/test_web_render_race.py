"""The web UI in a real browser (Debian's Chromium via Playwright): only the newest
section render draws into the view. A section whose answer is slow, finishing after the
user moved on to another section, must not draw over it (``show()`` in
``web/static/app.js``). The slow answer is held back by the test (``page.route``) and
released once the second section is drawn."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.consortium import Consortium, running
from tests.integration.test_web_browser import Person, browser  # noqa: F401  (fixture)
from tests.webui import ui_server

SLOW, SECOND = "patient-requests", "patient-card"
HELD = "**/ui/api/patient/requests"
LATE_DRAW_WINDOW_MS = 3_000  # a released answer's render draws well within this


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running(tmp_path_factory.mktemp("web-render-race")) as consortium:
        yield consortium


def test_a_slow_section_finishing_late_does_not_draw_over_the_newer_one(
        browser: Any, c: Consortium, tmp_path: Path) -> None:  # noqa: F811
    with ui_server(c, tmp_path) as base:
        patient = Person(browser, base, "patient-p")
        page = patient.page
        page.wait_for_selector("#view[data-loaded]")  # the first section (records) drawn
        held: list[Any] = []

        def hold(route: Any) -> None:  # answered only when the test says so
            held.append(route)

        page.route(HELD, hold)

        page.click(f"#nav button[data-section={SLOW}]")
        deadline = time.monotonic() + 20
        while not held:  # the slow section's request reached the browser's router
            assert time.monotonic() < deadline, "the slow section never asked for its data"
            page.wait_for_timeout(50)
        patient.go(SECOND)
        second = page.inner_html("#view")
        loaded = page.get_attribute("#view", "data-loaded")
        assert page.inner_text("#view h2") == page.inner_text(
            f"#nav button[data-section={SECOND}]")

        with page.expect_response(HELD) as answer:
            held[0].continue_()
        answer.value.finished()
        try:  # the late render would draw (and stamp data-loaded) now; it must not
            page.wait_for_function("b => document.getElementById('view').dataset.loaded"
                                   " !== b", arg=loaded, timeout=LATE_DRAW_WINDOW_MS)
        except Exception as exc:  # Playwright's TimeoutError: nothing was drawn
            assert "Timeout" in type(exc).__name__, exc
        assert page.get_attribute("#view", "data-section") == SECOND
        assert page.inner_html("#view") == second
        assert page.get_attribute(f"#nav button[data-section={SECOND}]",
                                  "aria-current") == "page"
        page.unroute(HELD)
        patient.close()
