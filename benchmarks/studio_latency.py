"""The Studio's latency as a radiologist feels it, measured in headless Chromium against the real app.

Prints the server's slice-change handler time, then median / p90 milliseconds from an input (arrow key on the
slice slider, mouse wheel over the painter) to the new slice drawn in the browser, and click→result seconds of
"Run on slice" for each task.

    OMP_NUM_THREADS=1 python benchmarks/studio_latency.py [--n 20] [--scan PATH]

Needs Debian's Chromium at /usr/bin/chromium (as the browser tests). The time to the new image runs from just
before the input to the moment the painter has drawn the new slice on its canvas (painter.js ``mgP.drawnAt``), so
it covers the browser's event, the server's handler, the transfer, decoding and drawing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.live_server import LiveApp  # noqa: E402
from tests.painter import stroke, white_brush  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
MARK = "() => { window.__t0 = performance.now(); window.__drawn = window.mgP.drawn; }"
DRAWN = "() => window.mgP.drawn > window.__drawn"
ELAPSED = "() => window.mgP.drawnAt - window.__t0"


def _stats(name: str, ms: list[float]) -> None:
    ms = sorted(ms)
    p90 = ms[min(len(ms) - 1, int(round(0.9 * (len(ms) - 1))))]
    sys.stdout.write(f"{name:<34} median {statistics.median(ms):7.0f} ms   p90 {p90:7.0f} ms   (n={len(ms)})\n")


def _slice_changes(pg, n: int, how: str) -> list[float]:
    out = []
    slider = pg.locator("#mg-slice input[type=range]")
    box = pg.locator("#mg-canvas").bounding_box()
    for _ in range(n):
        pg.evaluate(MARK)
        if how == "arrow":
            slider.focus()
            pg.keyboard.press("ArrowRight")
        else:
            pg.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            pg.mouse.wheel(0, 100)
        try:
            pg.wait_for_function(DRAWN, polling=5, timeout=15_000)
        except Exception:  # noqa: BLE001 - no new image at all: reported as such
            out.append(float("inf"))
            continue
        out.append(pg.evaluate(ELAPSED))
        pg.wait_for_timeout(150)
    return out


def _server_view_ms(n: int) -> None:
    """The slice-change handler alone (in this process): the embedded brain and a 1024² MR from pydicom-data."""
    from pydicom.data import get_testdata_file

    from medgan.ui import studio_handlers as H
    from medgan.ui.common import Session

    for name, out in (("embedded brain 256²", H.on_example("Brain MRI volume with labels (embedded)", Session())),
                      ("MR2_J2KR 1024²", H.on_upload([get_testdata_file("MR2_J2KR.dcm")], Session()))):
        s, ms = out[0], []
        for i in range(n):
            t0 = time.perf_counter()
            s, _ = H.on_view(s, "axial", max(0, s.index + (1 if i % 2 else -1)), 0.5, 1.0, None)
            ms.append(1000 * (time.perf_counter() - t0))
        _stats(f"server: slice change, {name}", ms)


def _run(pg, task_label: str, done_text: str) -> float:
    pg.locator("#mg-task").get_by_text(task_label).click()
    pg.wait_for_timeout(1500)  # the checkpoint list follows the task
    if task_label.startswith("Inpainting"):
        white_brush(pg)
        stroke(pg)
    before = pg.locator("#mg-status").inner_text()
    t0 = time.perf_counter()
    pg.locator("#mg-run").click()
    pg.wait_for_function("([t, b]) => { const s = document.querySelector('#mg-status').innerText;"
                         " return s !== b && s.includes(t); }", arg=[done_text, before], polling=20,
                         timeout=300_000)
    return time.perf_counter() - t0


def main() -> None:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20, help="slice changes per input kind")
    ap.add_argument("--scan", default=None, help="a scan to upload first (default: the embedded example)")
    ap.add_argument("--no-runs", action="store_true", help="slice changes only")
    args = ap.parse_args()
    _server_view_ms(max(args.n, 10))
    with tempfile.TemporaryDirectory() as home, LiveApp(env={"MEDGAN_HOME": home}) as app, \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1600, "height": 1100})
        pg.goto(app.url)
        pg.wait_for_function("(document.querySelector('#mg-status') || {}).innerText?.includes('Loaded')",
                             polling=100, timeout=120_000)
        if args.scan:
            pg.locator("#mg-upload input[type=file]").set_input_files(args.scan)
            pg.wait_for_function("document.querySelector('#mg-status').innerText.includes('Loaded') && "
                                 "!document.querySelector('#mg-status').innerText.includes('embedded')",
                                 polling=100, timeout=120_000)
        pg.wait_for_timeout(1000)
        _slice_changes(pg, 2, "arrow")  # warm-up
        _stats("slice change (arrow key)", _slice_changes(pg, args.n, "arrow"))
        _stats("slice change (mouse wheel)", _slice_changes(pg, args.n, "wheel"))
        if args.no_runs:
            browser.close()
            return
        pg.locator("#mg-auto").click()
        pg.wait_for_function("document.querySelector('#mg-status').innerText.includes('Auto-labels')",
                             polling=50, timeout=120_000)
        for label, done in (("Synthesis (labels → image)", "Ran"), ("Segmentation (image → labels)", "Ran"),
                            ("Enhancement (denoise / ×4 SR / deblur)", "Ran"),
                            ("Inpainting (image + region → image)", "Ran")):
            secs = [_run(pg, label, done) for _ in range(3)]
            sys.stdout.write(f"run {label:<40} click→result median {statistics.median(secs):5.2f} s "
                             f"(runs: {', '.join(f'{s:.2f}' for s in secs)})\n")
        browser.close()


if __name__ == "__main__":
    main()
