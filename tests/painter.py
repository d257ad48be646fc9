"""Painting on the Studio's painter in headless Chromium (shared by the browser tests and the latency benchmark)."""

from __future__ import annotations

# The view key of the picture the painter has drawn (painter.js sets it once the view is on the canvas).
DRAWN_KEY = "(document.querySelector('#mg-canvas') || {dataset: {}}).dataset.key || ''"


def brush(pg, rgb: tuple[int, int, int]) -> None:
    """Pick the brush of colour ``rgb`` (a class colour of medgan.ui.common.PALETTE, or white for the region)."""
    pg.locator("#mg-editor button.mg-tool[data-rgb='{},{},{}']".format(*rgb)).click()


def white_brush(pg) -> None:
    """Pick the white brush (the inpainting region)."""
    brush(pg, (255, 255, 255))


def stroke(pg, dx: float = 0.0, dy: float = 0.0) -> None:
    """Drag a short wavy stroke across the middle of the canvas with the brush picked."""
    box = pg.locator("#mg-canvas").bounding_box()
    cx, cy = box["x"] + box["width"] / 2 + dx, box["y"] + box["height"] / 2 + dy
    pg.mouse.move(cx - 70, cy)
    pg.mouse.down()
    for i in range(18):
        pg.mouse.move(cx - 70 + i * 8, cy + (i % 4) * 4, steps=2)
    pg.mouse.up()


def wait_drawn(pg, before: str, timeout: int = 60_000) -> str:
    """Wait until the painter has drawn a view other than ``before``; its key."""
    pg.wait_for_function(f"b => ({DRAWN_KEY}) !== b && ({DRAWN_KEY}) !== ''", arg=before, polling=50,
                         timeout=timeout)
    return pg.evaluate(DRAWN_KEY)
