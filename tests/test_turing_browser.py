"""The Turing tab in headless Chromium (Debian's /usr/bin/chromium via Playwright): a reader completes 10 cases and
sees the end screen; the admin unlocks the panel and sees the results. Screenshots go to test-artifacts/."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medgan.db import get_engine
from medgan.turing.store import TuringStore
from medgan.turing.study import array_source, create_study
from medgan.turing.study_types import StudyOptions
from tests.live_server import LiveApp

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"browser tests need Debian's Chromium at {CHROMIUM} "
                       "(apt-get install chromium); skipped"),
]
PASSWORD = "browser-admin-pw"


def _wait_text(pg, selector: str, text: str) -> None:  # noqa: ANN001
    pg.wait_for_function("([s, t]) => ((document.querySelector(s) || {}).innerText || '').includes(t)",
                         arg=[selector, text])


def test_reader_completes_study_and_admin_sees_results(tmp_path: Path, artifacts_dir: Path) -> None:
    from playwright.sync_api import sync_playwright

    home = tmp_path / "home"
    home.mkdir()
    store = TuringStore(get_engine(f"sqlite:///{home / 'medgan.db'}"))
    rng = np.random.default_rng(2)
    info = create_study("browser-study", StudyOptions(n_cases=10, seed=3),
                        real=array_source("real-set", rng.random((10, 64, 64), dtype=np.float32), "real"),
                        generated=[array_source("ckpt_browser", rng.random((10, 64, 64), dtype=np.float32),
                                                "generated")], store=store)
    (_, code), = store.issue_codes(info.id, 1)

    with LiveApp(env={"MEDGAN_HOME": str(home), "MEDGAN_ADMIN_PASSWORD": PASSWORD}) as app, \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1100})
        pg.set_default_timeout(45_000)
        pg.goto(app.url)
        pg.get_by_role("tab", name="Turing test").click()
        pg.locator("#turing-code textarea, #turing-code input").first.fill(code)
        pg.locator("#turing-start").click()
        _wait_text(pg, "#turing-progress", "Case 1 of 10")
        for i in range(10):
            assert pg.locator("#turing-case img").count() == 1
            html = pg.content()
            assert "ckpt_browser" not in html and "real-set" not in html
            pg.locator("#turing-confidence label").nth(i % 5).click()
            pg.locator("#turing-real" if i % 2 else "#turing-generated").click()
            if i < 9:
                _wait_text(pg, "#turing-progress", f"Case {i + 2} of 10")
            if i == 0:  # window/level and zoom: applied in the browser, the same to every case
                pg.locator("#turing-zoom input[type=number]").fill("2")
                pg.locator("#turing-zoom input[type=number]").press("Enter")
                pg.wait_for_function("getComputedStyle(document.documentElement)"
                                     ".getPropertyValue('--turing-zoom').trim() === '2'")
                pg.locator("#turing-width input[type=number]").fill("0.5")
                pg.locator("#turing-width input[type=number]").press("Enter")
                pg.wait_for_function("document.querySelector('#turing-wl feFuncR').getAttribute('slope') === '2'")
                width = pg.evaluate("document.querySelector('#turing-case img').getBoundingClientRect().width")
                assert width == pytest.approx(1024, abs=2)
                pg.screenshot(path=str(artifacts_dir / "turing_reader_case.png"))
        _wait_text(pg, "#turing-message", "Study complete")
        assert "Your score" in pg.locator("#turing-message").inner_text()
        pg.screenshot(path=str(artifacts_dir / "turing_reader_end.png"))
        assert store.count_votes(info.id) == 10

        pg.get_by_text("Study admin").click()
        pg.locator("#turing-admin-password input").fill(PASSWORD)
        pg.locator("#turing-unlock").click()
        pg.locator("#turing-results").click()
        _wait_text(pg, "#turing-summary", "1 readers, 10 scored votes")
        assert "MRMC accuracy" in pg.locator("#turing-summary").inner_text()
        pg.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 4")
        pg.screenshot(path=str(artifacts_dir / "turing_admin_results.png"), full_page=True)
        browser.close()
