"""Load and view: uploads, examples, slice/axis selection, windowing and the de-identified header summary."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from medgan.data import brain_scan
from medgan.io import CT_PRESETS, auto_window, check_min_side, read_scan, take_slice, window

__all__ = ["window"]  # re-exported for the handlers

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "assets"
AXES: dict[str, int] = {"axial": 0, "coronal": 1, "sagittal": 2}
CT_WINDOWS: dict[str, tuple[float, float]] = {f"CT {k}": v for k, v in CT_PRESETS.items()}  # (level, width) HU
AUTO = "MR / auto (0.5–99.5 %)"
MANUAL = "manual level/width"
WINDOW_CHOICES: list[str] = [AUTO, *CT_WINDOWS, MANUAL]
SCAN_SUFFIXES = [".dcm", ".dicom", ".ima", ".nii", ".gz", ".zip", ".png", ".jpg", ".jpeg", ".tif", ".tiff"]


def read_upload(files: Any) -> Any:
    """Uploaded path(s) → Scan. One file (DICOM, NIfTI, PNG/JPEG/TIFF, zip of a series) or several DICOM files;
    slices under MIN_SIDE px on a side are refused (as by the API)."""

    if files is None or (isinstance(files, list) and not files):
        raise ValueError("no file was uploaded")
    paths = [str(getattr(f, "name", f)) for f in (files if isinstance(files, list) else [files])]
    if len(paths) == 1:
        scan = read_scan(paths[0])
    else:
        try:
            scan = read_scan(paths)
        except ValueError as exc:  # name the upload, never the server folder the files were put in
            folder = os.path.commonpath(paths)
            msg = str(exc)
            if msg.startswith(folder + ":"):
                msg = f"the {len(paths)} uploaded files" + msg[len(folder):]
            raise ValueError(msg) from None
    check_min_side(scan.shape[1], scan.shape[2], "image")
    return scan


def example_loaders() -> dict[str, Callable[[], Any]]:
    """Example name → loader. The embedded brain is always there; assets/ adds shipped CT/MR examples."""
    out: dict[str, Callable[[], Any]] = {"Brain MRI volume with labels (embedded)": _embedded}
    if ASSETS.is_dir():
        for p in sorted(ASSETS.rglob("*")):
            low = p.name.lower()
            is_scan = p.is_file() and any(low.endswith(s) for s in (".dcm", ".nii", ".nii.gz", ".zip"))
            if "label" in low or "mask" in low or "seg" in low:
                is_scan = False
            if is_scan or (p.is_dir() and any(q.suffix.lower() == ".dcm" for q in p.glob("*.dcm"))):
                out[f"Example: {p.relative_to(ASSETS)}"] = _reader(p)
    return out


@functools.lru_cache(maxsize=1)
def _embedded() -> Any:
    """The embedded brain scan, read once and shared by every session (never modified in place)."""

    return brain_scan()


def _reader(path: Path) -> Callable[[], Any]:
    def load() -> Any:
        return read_scan(str(path))

    return load


def default_window(scan: Any) -> str:
    return "CT soft tissue" if getattr(scan, "modality", "") == "CT" else AUTO


def level_width_for(scan: Any, preset: str) -> tuple[float, float]:
    """(level, width) of a preset for this scan (auto: the models' input normalisation, as the API applies it)."""
    if preset in CT_WINDOWS:
        return CT_WINDOWS[preset]
    if getattr(scan, "source_format", "") == "embedded":  # already in [0, 1], as the bundled models saw it
        return 0.5, 1.0
    if preset == AUTO:  # the models' input normalisation (medgan.domain): non-zero voxels, zero background
        from medgan.domain import scan_window

        return scan_window(scan)
    return auto_window(scan)


def n_slices(scan: Any, axis: int) -> int:
    return int(np.asarray(scan.volume).shape[axis])


def take(vol: np.ndarray, axis: int, index: int) -> np.ndarray:
    """Slice ``index`` along ``axis`` of a (Z, H, W) array (coronal/sagittal flipped so Z runs upwards)."""
    return take_slice(vol, int(axis), int(np.clip(index, 0, vol.shape[axis] - 1)))


def put(vol: np.ndarray, axis: int, index: int, sl: np.ndarray) -> None:
    """Inverse of :func:`take`: write a slice back into the volume in place."""
    sl = sl if axis == 0 else sl[::-1]
    idx = [slice(None)] * 3
    idx[axis] = int(index)
    vol[tuple(idx)] = sl


def header_rows(scan: Any) -> list[list[str]]:
    """De-identified header summary as (field, value) rows."""
    try:
        summary = scan.summary()
    except Exception:  # a partial Scan from a reader: show what is safe
        summary = {"modality": getattr(scan, "modality", "?")}
    rows = [[str(k), str(v)] for k, v in summary.items()]
    for note in getattr(scan, "notes", [])[:5]:
        rows.append(["note", str(note)])
    return rows
