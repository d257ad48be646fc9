"""Painting on the Studio's painter in headless Chromium (shared by the browser tests and the latency benchmark)."""

from __future__ import annotations


def brush(pg, rgb: tuple[int, int, int]) -> None:
    """Pick the brush of colour ``rgb`` (a class colour of medgan.ui.common.PALETTE, or white for the region)."""
    ed = pg.locator("#mg-editor")
    ed.get_by_role("button", name="Brush", exact=True).click()
    ed.get_by_role("button", name="Color", exact=True).click()
    ed.locator("button[style*='rgb({}, {}, {})']".format(*rgb)).last.click()


def white_brush(pg) -> None:
    """Pick the white brush (the inpainting region)."""
    brush(pg, (255, 255, 255))


def stroke(pg, dx: float = 0.0, dy: float = 0.0) -> None:
    """Select the brush and drag a short wavy stroke across the middle of the canvas."""
    ed = pg.locator("#mg-editor")
    ed.get_by_role("button", name="Brush", exact=True).click()
    box = ed.locator("canvas").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2 + dx, box["y"] + box["height"] / 2 + dy
    pg.mouse.move(cx - 70, cy)
    pg.mouse.down()
    for i in range(18):
        pg.mouse.move(cx - 70 + i * 8, cy + (i % 4) * 4, steps=2)
    pg.mouse.up()
    pg.wait_for_timeout(400)
