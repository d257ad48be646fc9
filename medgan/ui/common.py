"""Shared UI helpers: label palette, colouring, windowing for display, friendly errors, session state."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medgan.data.brain import CLASS_NAMES

logger = logging.getLogger(__name__)

# One fixed colour per label class (index = label value). 0 = background (transparent on the label layer).
PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0),
    (30, 144, 255),   # 1 CSF: blue
    (255, 64, 64),    # 2 grey matter: red
    (255, 214, 0),    # 3 white matter: yellow
    (0, 200, 83),     # 4 green
    (213, 0, 249),    # 5 magenta
    (255, 145, 0),    # 6 orange
    (0, 229, 255),    # 7 cyan
)
LABEL_ALPHA = 110
DEFAULT_CLASSES: tuple[str, ...] = CLASS_NAMES


def hex_colour(c: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*c)


def legend_html(names: tuple[str, ...] | list[str]) -> str:
    """Legend: one swatch per class; background is the eraser."""
    items = []
    for i, name in enumerate(names):
        if i == 0:
            items.append("<span class='mg-sw' style='background:transparent;border:1px dashed #888'></span>"
                         f"{name} (eraser)")
        elif i < len(PALETTE):
            items.append(f"<span class='mg-sw' style='background:{hex_colour(PALETTE[i])}'></span>{name}")
    items.append("<span class='mg-sw' style='background:#fff;border:1px solid #888'></span>"
                 "inpainting region (white brush)")
    return "<div class='mg-legend'>" + "".join(f"<span class='mg-item'>{t}</span>" for t in items) + "</div>"


def to_uint8(img: np.ndarray) -> np.ndarray:
    """float [0, 1] (H, W) → uint8 (H, W)."""
    return (np.clip(np.nan_to_num(img), 0, 1) * 255 + 0.5).astype(np.uint8)


def grey_rgb(img: np.ndarray) -> np.ndarray:
    """float [0, 1] (H, W) → uint8 RGB (H, W, 3)."""
    g = to_uint8(img)
    return np.stack([g, g, g], -1)


def label_rgba(labels: np.ndarray, alpha: int = LABEL_ALPHA) -> np.ndarray:
    """Integer labels (H, W) → RGBA uint8 (H, W, 4) in palette colours; background transparent."""
    pal = np.array(PALETTE, dtype=np.uint8)
    lab = np.clip(labels.astype(np.int64), 0, len(PALETTE) - 1)
    rgba = np.zeros((*labels.shape, 4), dtype=np.uint8)
    rgba[..., :3] = pal[lab]
    rgba[..., 3] = np.where(lab > 0, alpha, 0)
    return rgba


def overlay(img: np.ndarray, labels: np.ndarray | None, alpha: float = 0.45) -> np.ndarray:
    """Grey image with the label map blended on top: uint8 RGB (H, W, 3)."""
    rgb = grey_rgb(img).astype(np.float32)
    if labels is None:
        return rgb.astype(np.uint8)
    pal = np.array(PALETTE, dtype=np.float32)
    lab = np.clip(labels.astype(np.int64), 0, len(PALETTE) - 1)
    fg = (lab > 0)[..., None]
    rgb = np.where(fg, (1 - alpha) * rgb + alpha * pal[lab], rgb)
    return rgb.astype(np.uint8)


def labels_rgb(labels: np.ndarray) -> np.ndarray:
    """Label map as an opaque colour picture (background black): uint8 RGB (H, W, 3)."""
    pal = np.array(PALETTE, dtype=np.uint8)
    return pal[np.clip(labels.astype(np.int64), 0, len(PALETTE) - 1)]


def diff_heatmap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| as an inferno-like colour map, uint8 RGB (H, W, 3); scaled so 0.25 difference is full scale."""
    d = np.clip(np.abs(a.astype(np.float32) - b.astype(np.float32)) / 0.25, 0, 1)
    stops = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], np.float32)
    x = d * (len(stops) - 1)
    i = np.clip(x.astype(int), 0, len(stops) - 2)
    t = (x - i)[..., None]
    return ((1 - t) * stops[i] + t * stops[i + 1]).astype(np.uint8)


_PATH = re.compile(r"(?<![\w.])/(?:[^\s/:'\"]+/)+([^\s/:'\"]+)")


def plain(message: str) -> str:
    """A message without server folder names (a path keeps only its file name)."""
    return _PATH.sub(r"\1", message)


def client_host(request: Any) -> str:
    """The address a Gradio request came from ("unknown" without one): the key of per-client login back-off."""
    client = getattr(request, "client", None) if request is not None else None
    return str(getattr(client, "host", None) or "unknown")


class UserError(ValueError):
    """A problem the user can fix; its message is shown as is."""


def friendly(action: str, keep: int = 0, clear: int = 0) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Turn exceptions into plain-language ``gr.Error`` messages (never a trace in the UI).

    keep: the handler's number of outputs; when given, a problem with the user's input is shown as a warning and
    every output keeps its value (a bad upload must not blank the scan already on screen), except the last
    ``clear`` outputs, which are emptied (the upload box that still names the refused file).
    """

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            import gradio as gr

            try:
                return fn(*args, **kwargs)
            except gr.Error:
                raise
            except (ValueError, FileNotFoundError, KeyError) as exc:
                logger.info("%s: %s", action, exc)
                msg = plain(str(exc).strip("'\"")) or exc.__class__.__name__
                if keep:
                    gr.Warning(f"Could not {action}: {msg}", duration=None)
                    return tuple(gr.skip() if i < keep - clear else None for i in range(keep))
                raise gr.Error(f"Could not {action}: {msg}", print_exception=False) from None
            except MemoryError:
                raise gr.Error(f"Could not {action}: the data is too large for this server.",
                               print_exception=False) from None
            except Exception:
                logger.exception("unexpected error while trying to %s", action)
                raise gr.Error(f"Could not {action}: an unexpected error happened on the server "
                               "(it has been logged).", print_exception=False) from None

        return wrapper

    return deco


@dataclass
class Session:
    """Per-browser-session state of the Studio.

    scan: the loaded Scan; unit: float32 (Z, H, W) in [0, 1] at the current window (re-windowed on change);
    labels: uint8 label volume aligned with ``scan.volume`` (edited slices written back), or None;
    label_names: class names; result: the last run (for export and pinning); pinned: rows of the comparison.
    Each Studio session holds its own Session (a ``gr.State``), so a new upload replaces only that user's scan.
    """

    scan: Any = None
    labels: np.ndarray | None = None
    label_names: tuple[str, ...] = DEFAULT_CLASSES
    axis: int = 0
    index: int = 0
    result: dict[str, Any] = field(default_factory=dict)
    pinned: list[dict[str, Any]] = field(default_factory=list)
    auto_labelled: set[tuple[int, int]] = field(default_factory=set)  # (axis, index) labelled by the U-Net
    scan_id: str = ""  # new for every loaded scan; the painter's view key starts with it
    recent: dict[str, Any] = field(default_factory=dict)  # view key → Painted of the last few views sent
    region: np.ndarray | None = None  # the inpainting region painted on the slice on screen
    opacity: float = 0.4  # label overlay opacity on the painter
    outline: bool = False  # draw only the labels' borders
    draws: int = 0  # painter redraws sent: the view key tells every redraw apart

    def view_key(self) -> str:
        """The scan, axis, slice and redraw on screen: every handler that reads the painter checks it."""
        return f"{self.scan_id}:{self.axis}:{self.index}:{self.draws}"
