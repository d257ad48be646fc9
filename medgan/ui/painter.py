"""The Studio's slice viewer and label painter: what the server sends it and how its strokes come back.

The browser side is ``painter.js`` (loaded in the page head): it draws the slice and its labels on one square
canvas and paints in voxels. The server sends a *view* (:func:`view_payload`, a JSON string in a hidden textbox):
the windowed slice as an 8-bit greyscale PNG at the slice's own size, the label *codes* as a PNG of the same size
(class index, ``+ REGION_BIT`` where the inpainting region is painted), where the slice lies on the canvas
(:class:`medgan.ui.geometry.DisplayGeometry`: physical aspect ratio, centred) and the class colours. Events that
need the strokes get ``window.mgStrokes()`` injected into their inputs: ``{"key": …}``, plus ``"codes"`` (a PNG data
URL) when something was painted since the view arrived. The codes hold the whole slice, so reading them twice is
harmless, and a stroke on a view the user has since scrolled away from lands on its own slice (:class:`Painted`).
"""

from __future__ import annotations

import base64
import functools
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medgan.ui.common import PALETTE, UserError, to_uint8
from medgan.ui.geometry import DisplayGeometry

REGION_BIT = 128  # set in a code where the inpainting region is painted; the label is kept under it
MAX_STROKES_CHARS = 40_000_000  # a 4096² slice's codes as a PNG data URL stay far below this
MIN_OPACITY = 0.2  # the overlay is never fully transparent (so painted labels stay visible)
JS = (Path(__file__).with_name("painter.js")).read_text()

HTML = """<div class="mg-painter">
  <div class="mg-painter-title">Label painter: class colours = labels · white = region to inpaint ·
    ⌫ eraser · Ctrl+Z undo · mouse wheel = slices</div>
  <div class="mg-painter-bar">
    <span id="mg-tools" class="mg-tools"></span>
    <label class="mg-size">brush <input id="mg-size" type="range" min="1" max="60" value="12"></label>
    <button type="button" id="mg-undo" class="mg-undo" title="undo the last stroke (Ctrl+Z)">undo</button>
  </div>
  <canvas id="mg-canvas" width="{canvas}" height="{canvas}" tabindex="0"></canvas>
</div>"""

CSS = """
.mg-painter {display: flex; flex-direction: column; gap: 6px}
.mg-painter-title {font-size: .8rem; color: #475569}
.mg-painter-bar {display: flex; align-items: center; gap: 10px; flex-wrap: wrap; font-size: .8rem}
.mg-tools {display: inline-flex; gap: 6px}
.mg-tool {width: 26px; height: 26px; border-radius: 5px; border: 1px solid #94a3b8; cursor: pointer;
  font-size: 14px; line-height: 1; padding: 0}
.mg-tool.mg-on {outline: 3px solid #4f46e5; outline-offset: 1px}
.mg-erase {background: #f1f5f9}
.mg-undo {border: 1px solid #94a3b8; border-radius: 5px; padding: 2px 8px; background: #f8fafc; cursor: pointer}
#mg-canvas {width: 100%; max-width: 560px; aspect-ratio: 1 / 1; background: #000; cursor: crosshair;
  touch-action: none; border-radius: 6px; align-self: center}
"""


@dataclass(frozen=True)
class Painted:
    """A view sent to the painter: its key, geometry and the slice (axis, index) it shows."""

    key: str
    geometry: DisplayGeometry
    axis: int = 0
    index: int = 0


def html(canvas: int) -> str:
    return HTML.replace("{canvas}", str(int(canvas)))


def codes_of(labels: np.ndarray | None, region: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    """uint8 (H, W) codes: the class index, ``+ REGION_BIT`` where the region is."""
    codes = np.zeros(shape, np.uint8) if labels is None else np.clip(np.asarray(labels), 0, REGION_BIT - 1)
    codes = codes.astype(np.uint8)
    if region is not None and np.asarray(region).any():
        codes = codes | (np.asarray(region, bool) * REGION_BIT).astype(np.uint8)
    return codes


def png_data_url(grey: np.ndarray) -> str:
    """uint8 (H, W) → ``data:image/png;base64,…`` (lossless; quick to write)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(grey, np.uint8), mode="L").save(buf, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def read_png_data_url(url: str) -> np.ndarray:
    """``data:image/png;base64,…`` → uint8 (H, W) (the first channel of an RGB(A) picture)."""
    from PIL import Image

    head, _, data = str(url).partition(",")
    if not head.startswith("data:image/png;base64"):
        raise UserError("the painter sent its strokes in a form this server does not read; reload the page")
    try:
        img = Image.open(io.BytesIO(base64.b64decode(data, validate=True)))
        img.load()
    except Exception as exc:  # noqa: BLE001 - a damaged picture is the user's browser's, not ours
        raise UserError("the painter's strokes arrived damaged; nothing was changed, try again") from exc
    arr = np.asarray(img.convert("RGB") if img.mode not in ("L", "RGB") else img)
    return arr[..., 0] if arr.ndim == 3 else arr


def view_payload(image: np.ndarray, labels: np.ndarray | None, region: np.ndarray | None,
                 geometry: DisplayGeometry, names: tuple[str, ...], key: str, opacity: float = 0.4,
                 outline: bool = False, where: tuple[int, int] = (0, 0)) -> tuple[str, Painted]:
    """The view for the painter (JSON) and the :class:`Painted` record its strokes are read against.
    ``image``: the windowed slice, float [0, 1] (H, W)."""
    shape = tuple(int(n) for n in np.asarray(image).shape[:2])
    k = max(2, min(len(names), len(PALETTE)))
    payload = {
        "key": key,
        "shape": list(shape),
        "box": list(geometry.box),
        "canvas": geometry.canvas,
        "image": png_data_url(to_uint8(np.asarray(image))),
        "codes": png_data_url(codes_of(labels, region, shape)),
        "colours": [list(map(int, c)) for c in PALETTE[:k]],
        "names": list(names[:k]),
        "opacity": float(np.clip(opacity, MIN_OPACITY, 1.0)),
        "outline": bool(outline),
    }
    return json.dumps(payload), Painted(key, geometry, *where)


@functools.lru_cache(maxsize=2)  # commit reads the key, the codes and the orphan of one message: parsed once
def _message(strokes: str | None) -> dict:
    if not strokes:
        return {}
    if len(strokes) > MAX_STROKES_CHARS:
        raise UserError("the painter sent more than a slice's strokes; nothing was changed, reload the page")
    try:
        msg = json.loads(strokes)
    except ValueError as exc:
        raise UserError("the painter's strokes arrived damaged; nothing was changed, try again") from exc
    if not isinstance(msg, dict):
        raise UserError("the painter's strokes arrived damaged; nothing was changed, try again")
    return msg


def parse_strokes(strokes: str | None) -> tuple[str, np.ndarray | None]:
    """What the painter sent → (its view key, the codes (H, W) or None when nothing was painted)."""
    msg = _message(strokes)
    codes = msg.get("codes")
    return str(msg.get("key") or ""), (None if not codes else read_png_data_url(codes))


def parse_orphan(strokes: str | None) -> tuple[str, np.ndarray] | None:
    """Strokes the painter sent along for a slice that was replaced before they were sent: (view key, codes)."""
    orphan = _message(strokes).get("orphan")
    if not isinstance(orphan, dict) or not orphan.get("codes"):
        return None
    return str(orphan.get("key") or ""), read_png_data_url(orphan["codes"])


def read_codes(codes: np.ndarray, painted: Painted, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the view ``painted`` → (labels uint8 (H, W), region bool (H, W)); a class beyond the scan's
    classes is read as background."""
    codes = np.asarray(codes, np.uint8)
    if codes.shape != tuple(painted.geometry.shape):
        raise UserError(f"the painter's strokes are {codes.shape[0]}×{codes.shape[1]} but that slice is "
                        f"{painted.geometry.shape[0]}×{painted.geometry.shape[1]}; nothing was changed")
    labels = codes & (REGION_BIT - 1)
    labels[labels >= num_classes] = 0
    return labels, (codes & REGION_BIT) > 0


def strokes_message(key: str, labels: np.ndarray | None = None, region: np.ndarray | None = None,
                    shape: tuple[int, int] | None = None) -> str:
    """What the browser sends after painting ``labels``/``region`` on view ``key`` (for scripts and tests that
    drive the Studio's handlers without a browser); no labels and no region: nothing painted."""
    if labels is None and region is None:
        return json.dumps({"key": key})
    shape = shape or (labels if labels is not None else region).shape
    return json.dumps({"key": key, "codes": png_data_url(codes_of(labels, region, shape))})


def view_codes(view: str) -> tuple[str, np.ndarray]:
    """A view (JSON) → (its key, its codes (H, W)): what the painter starts from."""
    msg = json.loads(view)
    return msg["key"], read_png_data_url(msg["codes"])
