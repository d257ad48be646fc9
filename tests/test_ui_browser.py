"""The Studio in headless Chromium (Debian's /usr/bin/chromium via Playwright; never downloaded): upload a DICOM,
paint a stroke, run synthesis and see the output and metrics; paint a region and run inpainting; scroll slices
with the arrow keys and the mouse wheel; a stroke survives an axis change. Screenshots go to test-artifacts/."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medgan.defaults import DEFAULT_MODELS
from medgan.ui.common import PALETTE
from tests.live_server import LiveApp
from tests.painter import DRAWN_KEY, brush, stroke, wait_drawn, white_brush
from tests.ui_checkpoints import ensure_checkpoints

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent
CT = ROOT / "assets" / "examples" / "ct_small.dcm"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"browser tests need Debian's Chromium at {CHROMIUM} "
                       "(apt-get install chromium); skipped"),
]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def page():
    from playwright.sync_api import sync_playwright

    ensure_checkpoints()
    with LiveApp(env={"MEDGAN_HOME": os.environ["MEDGAN_HOME"]}) as app, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1600, "height": 1100})
        pg.set_default_timeout(90_000)
        pg.goto(app.url)
        pg.wait_for_selector("#mg-editor canvas")
        _wait_text(pg, "#mg-status", "Loaded")
        wait_drawn(pg, "")
        yield pg
        browser.close()


def _wait_text(pg, selector: str, text: str) -> None:
    pg.wait_for_function("([s, t]) => ((document.querySelector(s) || {}).innerText || '').includes(t)",
                         arg=[selector, text], polling=250)


VIEW = DRAWN_KEY


def _view(pg) -> tuple[str, str, int]:
    """The painter's view key without its redraw count: (scan id, axis number, slice index)."""
    scan, axis, index, _ = pg.evaluate(VIEW).split(":")
    return scan, axis, int(index)


def _wait_view(pg, before: str) -> None:
    wait_drawn(pg, before)


def _metrics_text(pg) -> str:
    return pg.locator("#mg-metrics").inner_text()


def test_unreadable_upload_shows_a_plain_message(page, tmp_path):
    junk = tmp_path / "not_a_scan.dcm"
    junk.write_bytes(b"hello" * 100)
    page.locator("#mg-upload input[type=file]").set_input_files(str(junk))
    page.get_by_text("Could not read the uploaded file").first.wait_for()
    body = page.locator("body").inner_text()
    assert "not_a_scan.dcm" in body and "Traceback" not in body
    # the refused file is not left named in the upload box (the message keeps its name)
    page.wait_for_function("!document.querySelector('#mg-upload').innerText.includes('not_a_scan.dcm')",
                           polling=250, timeout=10_000)


def test_upload_dicom_paint_and_synthesize(page, artifacts_dir):
    pg = page
    before = pg.evaluate(VIEW)
    pg.locator("#mg-upload input[type=file]").set_input_files(str(CT))
    _wait_text(pg, "#mg-status", "CT dicom")
    assert "CT" in pg.locator("#mg-status").inner_text()
    _wait_view(pg, before)
    before = pg.evaluate(VIEW)
    pg.get_by_role("button", name="Clear labels").click()
    _wait_view(pg, before)
    brush(pg, PALETTE[2])
    stroke(pg)
    pg.locator("#mg-task").get_by_text("Synthesis (labels → image)").click()
    pg.locator("#mg-run").click()
    _wait_text(pg, "#mg-metrics", "label agreement")
    pg.wait_for_function("document.querySelector('#mg-output img') !== null", polling=250)
    text = _metrics_text(pg)
    assert "label agreement with the U-Net CSF" in text and "psnr" in text and "dice" not in text
    assert "(out of domain)" in text  # a CT slice: the numbers are shown greyed and marked
    status = pg.locator("#mg-status").inner_text()
    assert f"Ran {DEFAULT_MODELS['synthesis']}" in status and "Out of domain" in status and "modality is CT" in status
    pg.screenshot(path=str(artifacts_dir / "studio_synthesis.png"), full_page=True)


def test_paint_region_and_inpaint(page, artifacts_dir):
    pg = page
    pg.locator("#mg-task").get_by_text("Inpainting (image + region → image)").click()
    pg.wait_for_function("((document.querySelector('#mg-model input') || {}).value || '').includes('pix2pix_inpainting')",
                         polling=250)
    white_brush(pg)  # the white brush paints the region
    stroke(pg, dy=-40)
    pg.locator("#mg-run").click()
    _wait_text(pg, "#mg-metrics", "region psnr")
    text = _metrics_text(pg)
    assert "region ssim" in text and "biharmonic region psnr" in text  # the classical fill beside the model's
    widths = pg.evaluate("(() => { const t = document.querySelector('#mg-metrics table'); "
                         "return [t.scrollWidth, document.querySelector('#mg-metrics').clientWidth]; })()")
    assert widths[0] <= widths[1] + 1  # long metric names wrap; the value column is not pushed out of view
    assert "Ran pix2pix_inpainting" in pg.locator("#mg-status").inner_text()
    pg.screenshot(path=str(artifacts_dir / "studio_inpainting.png"), full_page=True)


def test_shoulder_mr_is_flagged_and_agreement_is_not_called_dice(page, artifacts_dir):
    """The issue's case: a shoulder MR segmented against the U-Net's own Auto-labels. It still runs, the status
    warns (pointing to the Train tab), and the numbers are named agreement, greyed and marked."""
    from pydicom.data import get_testdata_file

    pg = page
    clear = pg.locator("#mg-upload button[aria-label='Clear']")  # the CT of the earlier test is still in the box
    if clear.count():
        clear.first.click()
        pg.wait_for_function("!document.querySelector('#mg-upload').innerText.includes('.dcm')", polling=250)
    pg.locator("#mg-upload input[type=file]").set_input_files(get_testdata_file("MR2_J2KR.dcm"))
    pg.wait_for_function("(document.querySelector('#mg-status') || {}).innerText.includes('MR dicom')",
                         polling=250, timeout=240_000)  # a 1024×1024 JPEG 2000 on a busy CPU
    pg.locator("#mg-task").get_by_text("Segmentation (image → labels)").click()
    _wait_text(pg, "div.prose.mg-card", "Trained on")  # the domain beside the checkpoint picker
    assert "skull-stripped" in pg.locator("div.prose.mg-card").first.inner_text()
    pg.locator("#mg-auto").click()
    _wait_text(pg, "#mg-status", "Auto-labels")
    pg.locator("#mg-run").click()
    _wait_text(pg, "#mg-status", "(segmentation)")
    status = pg.locator("#mg-status").inner_text()
    assert "Out of domain" in status and "Train" in status
    text = _metrics_text(pg)
    assert "label agreement with the U-Net" in text and "(out of domain)" in text and "dice" not in text
    assert "in domain" in text and "domain score" in text
    pg.screenshot(path=str(artifacts_dir / "studio_out_of_domain.png"), full_page=True)


def test_wheel_and_arrow_keys_scroll_and_a_stroke_survives_an_axis_change(page, artifacts_dir):
    pg = page
    before = pg.evaluate(VIEW)
    pg.locator("#mg-load-example").click()
    _wait_view(pg, before)
    scan, axis, index = _view(pg)
    # the arrow key on the slice slider: the next slice is drawn
    before = pg.evaluate(VIEW)
    pg.locator("#mg-slice input[type=range]").focus()
    pg.keyboard.press("ArrowRight")
    _wait_view(pg, before)
    assert _view(pg) == (scan, axis, index + 1)
    # the mouse wheel over the painter: one slice per notch, down = next
    before = pg.evaluate(VIEW)
    box = pg.locator("#mg-editor canvas").first.bounding_box()
    pg.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    pg.mouse.wheel(0, 100)
    _wait_view(pg, before)
    assert _view(pg) == (scan, axis, index + 2)
    # back to the middle slice by an axis round trip, clear its labels, paint, change the axis straight away:
    # the stroke is kept on the slice it was painted on
    for name in ("coronal", "axial"):
        before = pg.evaluate(VIEW)
        pg.get_by_label(name, exact=True).check()
        _wait_view(pg, before)
    middle = _view(pg)
    before = pg.evaluate(VIEW)
    pg.get_by_role("button", name="Clear labels").click()
    _wait_view(pg, before)  # every redraw has its own key
    brush(pg, PALETTE[1])  # CSF
    stroke(pg)
    before = pg.evaluate(VIEW)
    pg.get_by_label("coronal", exact=True).check()
    _wait_view(pg, before)
    before = pg.evaluate(VIEW)
    pg.get_by_label("axial", exact=True).check()
    _wait_view(pg, before)
    assert _view(pg) == middle
    pg.get_by_role("button", name="Save label map").click()
    link = pg.locator("#mg-saved-labels a[href*='labels.png']").first
    link.wait_for(timeout=60_000)
    png = pg.request.get(link.get_attribute("href")).body()
    labels = np.asarray(Image.open(io.BytesIO(png)))
    pg.screenshot(path=str(artifacts_dir / "studio_axis_stroke.png"), full_page=True)
    assert (labels == 1).sum() > 50, "the CSF stroke painted before the axis change was lost"


def test_generation_draws_full_size_samples_through_the_renderer(page, artifacts_dir):
    """Generation with the default checkpoint: the card says who draws the images, and the samples come back at
    the renderer's 256 px (not 64 px blown up), with their label maps."""
    pg = page
    name = DEFAULT_MODELS["generation"]
    pg.locator("#mg-task").get_by_text("Generation (noise → image + labels)").click()
    pg.wait_for_function("n => ((document.querySelector('#mg-model input') || {}).value || '').includes(n)",
                         arg=name, polling=250)
    _wait_text(pg, "div.prose.mg-card", "images by pix2pix_synthesis")
    pg.locator("#mg-run").click()
    _wait_text(pg, "#mg-status", f"Ran {name}")
    pg.wait_for_function("document.querySelectorAll('#mg-gallery img').length >= 2", polling=250)
    src = pg.locator("#mg-gallery img").first.get_attribute("src")
    sample = Image.open(io.BytesIO(pg.request.get(src).body()))
    assert sample.size == (256, 256)
    assert "label agreement" in _metrics_text(pg)
    pg.screenshot(path=str(artifacts_dir / "studio_generation.png"), full_page=True)
