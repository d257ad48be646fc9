"""The Studio on real scans of other sizes, in headless Chromium (Debian's /usr/bin/chromium via Playwright):
the label overlay lies over the image for 64², 128², 512² and 189×256 slices (the rendered canvas is read back; the
coronal/sagittal geometry with slice spacing is checked in tests/test_ui_geometry.py), and a second upload replaces
the scan. Screenshots go to test-artifacts/."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.live_server import LiveApp
from tests.painter import DRAWN_KEY, wait_drawn
from tests.ui_checkpoints import ensure_checkpoints

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent
CT = ROOT / "assets" / "examples" / "ct_small.dcm"
EMRI = ROOT / "assets" / "examples" / "mr_emri_10slices.dcm"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
VIEW = DRAWN_KEY

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"browser tests need Debian's Chromium at {CHROMIUM} "
                       "(apt-get install chromium); skipped"),
]


@pytest.fixture(scope="module")
def page(artifacts_dir):
    from playwright.sync_api import sync_playwright

    ensure_checkpoints()
    with LiveApp(env={"MEDGAN_HOME": os.environ["MEDGAN_HOME"]}) as app, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1600, "height": 1100})
        pg.set_default_timeout(90_000)
        console: list[str] = []
        pg.goto(app.url)
        pg.wait_for_selector("#mg-editor canvas")
        _wait_status(pg, "Loaded")
        wait_drawn(pg, "")
        pg.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        yield pg
        browser.close()
        (artifacts_dir / "studio_browser_app.log").write_text(app.log() + "\n--- console ---\n" + "\n".join(console))


def _wait_status(pg, text: str, timeout: int = 90_000) -> None:
    pg.wait_for_function("t => ((document.querySelector('#mg-status') || {}).innerText || '').includes(t)",
                         arg=text, polling=100, timeout=timeout)


def _view(pg) -> str:
    return pg.evaluate(VIEW)


def _wait_view(pg, before: str) -> str:
    return wait_drawn(pg, before)


def _canvas(pg) -> np.ndarray:
    """The painter as rendered: RGB (H, W) of a screenshot of its canvas."""
    png = pg.locator("#mg-canvas").screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)


def _canvas_changed(pg, before: np.ndarray, timeout_ms: int = 15_000) -> np.ndarray:
    for _ in range(timeout_ms // 250):
        now = _canvas(pg)
        if now.shape == before.shape and np.abs(now - before).sum(-1).max() > 60:
            return _settled(pg, now)
        pg.wait_for_timeout(250)
    raise AssertionError("the painter did not change")


def _settled(pg, now: np.ndarray) -> np.ndarray:
    """The painter once two screenshots 300 ms apart agree (the new picture is drawn)."""
    for _ in range(40):
        pg.wait_for_timeout(300)
        later = _canvas(pg)
        if np.array_equal(later, now):
            return later
        now = later
    return now


def _upload(pg, path: str, status: str) -> None:
    before = _view(pg)
    pg.locator("#mg-upload input[type=file]").set_input_files(path)
    _wait_status(pg, status, timeout=120_000)
    _wait_view(pg, before)


def _longest_run(mask: np.ndarray) -> tuple[int, int]:
    best, start = (0, 0), None
    for i, m in enumerate([*mask, False]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            best = max(best, (start, i), key=lambda r: r[1] - r[0])
            start = None
    return best


def _picture(image_only: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(grey value (H, W), mask of the picture's box on the screenshot: the bounding box of grey pixels that
    are not the page's white; the toolbar and the label tag are coloured)."""
    grey = np.abs(image_only - image_only[..., :1]).max(-1) < 8
    dark = grey & (image_only[..., 0] < 250)
    (r0, r1), (c0, c1) = _longest_run(dark.mean(1) > 0.3), _longest_run(dark.mean(0) > 0.3)  # not the borders
    box = np.zeros(grey.shape, bool)
    box[r0 + 3:r1 - 3, c0 + 3:c1 - 3] = True  # inside the canvas' frame lines
    return np.where(grey & box, image_only[..., 0], -1), box


def _overlay_fits(image_only: np.ndarray, with_labels: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """(share of overlay pixels that lie on ``target``, share of ``target`` pixels the overlay covers)."""
    changed = np.abs(with_labels - image_only).sum(-1) > 30
    on_target = (changed & target).sum()
    return on_target / max(changed.sum(), 1), on_target / max(target.sum(), 1)


@pytest.mark.parametrize("shape", [(64, 64), (128, 128), (512, 512), (189, 256)])
def test_overlay_lies_over_the_image(page, tmp_path, artifacts_dir, shape):
    """A grey picture with a bright off-centre rectangle and a label map of exactly that rectangle: on the
    rendered painter, the coloured overlay covers the bright rectangle and nothing else."""
    h, w = shape
    img = np.full(shape, 60, np.uint8)
    rect = (slice(h // 8, h // 8 + h // 3), slice(w // 2, w // 2 + w // 3))
    img[rect] = 200
    lab = np.zeros(shape, np.uint8)
    lab[rect] = 2
    scan, labels = tmp_path / f"square_{h}x{w}.png", tmp_path / f"labels_{h}x{w}.png"
    Image.fromarray(img).save(scan)
    Image.fromarray(lab).save(labels)
    _upload(page, str(scan), f"{h}×{w}")
    image_only = _canvas(page)
    page.locator("#mg-label-file input[type=file]").set_input_files(str(labels))
    with_labels = _canvas_changed(page, image_only)
    value, _box = _picture(image_only)
    inside = value[value >= 0]
    bright = value > (inside.min() + inside.max()) / 2
    precision, coverage = _overlay_fits(image_only, with_labels, bright)
    Image.fromarray(with_labels.astype(np.uint8)).save(artifacts_dir / f"overlay_{h}x{w}.png")
    Image.fromarray(image_only.astype(np.uint8)).save(artifacts_dir / f"overlay_{h}x{w}_image_only.png")
    assert bright.sum() > 500, "the picture is not shown"
    assert precision > 0.9 and coverage > 0.9, (precision, coverage)


def test_a_new_upload_replaces_the_scan(page, tmp_path, artifacts_dir):
    """CT, then a refused file, then an MR: each upload is read on its own, the MR replaces the CT (a new scan id
    in the painter's view key), and no message names a server folder."""
    pg = page
    _upload(pg, str(CT), "CT dicom")
    ct_view = _view(pg)
    pg.screenshot(path=str(artifacts_dir / "studio_ct_small.png"), full_page=True)
    junk = tmp_path / "broken.dcm"
    junk.write_bytes(b"not a scan" * 50)
    pg.locator("#mg-upload input[type=file]").set_input_files(str(junk))
    pg.get_by_text("Could not read the uploaded file").first.wait_for()
    assert _view(pg) == ct_view  # the CT stays on screen
    _upload(pg, str(EMRI), "MR dicom")
    mr_view = _view(pg)
    assert mr_view.split(":")[0] != ct_view.split(":")[0]
    body = pg.locator("body").inner_text()
    assert "gradio-tmp" not in body and "holds 2" not in body
    assert "64×64" in pg.locator("#mg-status").inner_text()
    assert pg.locator("#mg-upload").inner_text().count(".dcm") == 0  # the box is empty for the next upload
    pg.screenshot(path=str(artifacts_dir / "studio_emri_small.png"), full_page=True)


def test_outline_undo_and_eraser_on_the_painter(page, artifacts_dir):
    """Outline-only draws fewer label pixels over the same anatomy; a stroke is undone with Ctrl+Z; the eraser
    removes labels, and what the server keeps is what the painter shows."""
    from tests.painter import brush, stroke

    pg = page
    before = _view(pg)
    pg.locator("#mg-load-example").click()
    _wait_view(pg, before)
    pg.mouse.move(5, 5)  # no brush ring on the canvas
    full = _settled(pg, _canvas(pg))
    pg.locator("#mg-outline input[type=checkbox]").check()
    outline = _canvas_changed(pg, full)
    coloured = lambda a: (np.abs(a - a[..., :1]).max(-1) > 30).sum()  # noqa: E731
    assert 0 < coloured(outline) < 0.6 * coloured(full)
    pg.locator("#mg-outline input[type=checkbox]").uncheck()
    assert np.array_equal(_canvas_changed(pg, outline), full)
    brush(pg, (255, 255, 255))  # the region brush
    stroke(pg)
    pg.mouse.move(5, 5)
    painted = _canvas_changed(pg, full)
    pg.locator("#mg-canvas").focus()
    pg.keyboard.press("Control+z")
    assert np.array_equal(_canvas_changed(pg, painted), full)
    pg.locator("#mg-editor button.mg-tool[data-tool='erase']").click()
    stroke(pg)
    pg.mouse.move(5, 5)
    erased = _canvas_changed(pg, full)
    Image.fromarray(erased.astype(np.uint8)).save(artifacts_dir / "painter_erased.png")
    assert coloured(erased) < coloured(full)
    codes = np.array(pg.evaluate("Array.from(window.mgP.codes)"), np.uint8)
    pg.get_by_role("button", name="Save label map").click()
    link = pg.locator("#mg-saved-labels a[href*='labels.png']").first
    link.wait_for(timeout=60_000)
    saved = np.asarray(Image.open(io.BytesIO(pg.request.get(link.get_attribute("href")).body())))
    assert np.array_equal(saved.ravel(), codes)


def test_a_stroke_painted_while_a_redraw_of_its_slice_is_on_its_way_is_kept(page):
    """A stroke made after the last event left but before its new view of the same slice arrives stays on the
    painter (and is sent with the next event); a view of another slice starts clean, and the strokes left on the
    replaced slice go to the server with the next event."""
    from tests.painter import brush, stroke

    pg = page
    before = _view(pg)
    pg.locator("#mg-load-example").click()
    _wait_view(pg, before)
    view = pg.evaluate("(document.querySelector('#mg-view textarea, #mg-view input') || {}).value")
    brush(pg, (255, 255, 255))
    stroke(pg)  # not sent yet
    painted = pg.evaluate("Array.from(window.mgP.codes).filter(c => c & 128).length")
    assert painted > 50
    scan, axis, index, draws = _view(pg).split(":")
    keys = []
    for slice_index, kept in ((index, painted), (str(int(index) + 1), 0)):
        keys.append(f"{scan}:{axis}:{slice_index}:{int(draws) + 100 + len(keys)}")
        pg.evaluate("([v, k]) => { const m = JSON.parse(v); m.key = k; return window.mgShow(JSON.stringify(m)); }",
                    [view, keys[-1]])
        assert pg.evaluate("Array.from(window.mgP.codes).filter(c => c & 128).length") == kept
    # the strokes left on the replaced slice go along with the next event, named by that slice's view
    msg = json.loads(pg.evaluate("window.mgStrokes()"))
    assert msg["key"] == keys[1] and "codes" not in msg and msg["orphan"]["key"] == keys[0]
    assert "orphan" not in json.loads(pg.evaluate("window.mgStrokes()"))  # sent once
