"""DICOM geometry: orientation, frame positions, slice spacing and the voxel → patient (LPS) affine, shared by
the image reader (:mod:`medgan.io.dicom_reader`) and the segmentation reader (:mod:`medgan.io.dicom_seg`)."""

from __future__ import annotations

import numpy as np


def _first_item(ds: object, group: str, seq: str) -> object | None:
    fg = ds.get(group)  # type: ignore[attr-defined]
    if fg:
        inner = fg[0].get(seq)
        if inner:
            return inner[0]
    return None


def _lookup(ds: object, seq: str, keyword: str) -> object | None:
    """A value from the top level, the shared or the first per-frame functional group."""
    value = ds.get(keyword)  # type: ignore[attr-defined]
    if value not in (None, ""):
        return value
    for group in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        item = _first_item(ds, group, seq)
        if item is not None and item.get(keyword) not in (None, ""):
            return item.get(keyword)
    return None


def dicom_vector(value: object, n: int) -> np.ndarray | None:
    """A DICOM multi-value of ``n`` finite numbers as float (n,), else None."""
    try:
        arr = np.asarray([float(v) for v in value], dtype=float)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    return arr if arr.shape == (n,) and np.isfinite(arr).all() else None


def geometry(ds: object) -> tuple[np.ndarray | None, tuple[float, float], float]:
    """(orientation 6-vector or None, pixel spacing (row, col) mm, slice thickness/spacing mm)."""
    iop = dicom_vector(_lookup(ds, "PlaneOrientationSequence", "ImageOrientationPatient"), 6)
    if iop is not None and (abs(np.linalg.norm(iop[:3]) - 1) > 0.05 or abs(np.linalg.norm(iop[3:]) - 1) > 0.05):
        iop = None
    ps = dicom_vector(_lookup(ds, "PixelMeasuresSequence", "PixelSpacing"), 2)
    if ps is None:
        ps = dicom_vector(ds.get("ImagerPixelSpacing"), 2)  # type: ignore[attr-defined]
    spacing = (float(ps[0]), float(ps[1])) if ps is not None and (ps > 0).all() else (1.0, 1.0)
    dz = 0.0
    for kw in ("SpacingBetweenSlices", "SliceThickness"):
        v = _lookup(ds, "PixelMeasuresSequence", kw)
        try:
            dz = abs(float(v)) if v not in (None, "") else 0.0  # type: ignore[arg-type]
        except (TypeError, ValueError):
            dz = 0.0
        if dz > 0:
            break
    return iop, spacing, dz if dz > 0 else 1.0


def frame_positions(ds: object, nframes: int) -> list[np.ndarray] | None:
    """ImagePositionPatient per frame (enhanced per-frame groups or the single top-level value)."""
    per = ds.get("PerFrameFunctionalGroupsSequence")  # type: ignore[attr-defined]
    if per and len(per) == nframes:
        out = []
        for item in per:
            pos = item.get("PlanePositionSequence")
            v = dicom_vector(pos[0].get("ImagePositionPatient"), 3) if pos else None
            if v is None:
                return None
            out.append(v)
        return out
    top = dicom_vector(ds.get("ImagePositionPatient"), 3)  # type: ignore[attr-defined]
    return [top] if top is not None and nframes == 1 else None


def normal_of(iop: np.ndarray | None) -> np.ndarray:
    if iop is None:
        return np.array([0.0, 0.0, 1.0])
    n = np.cross(iop[:3], iop[3:])
    return n / (np.linalg.norm(n) or 1.0)


def make_affine(iop: np.ndarray | None, spacing: tuple[float, float], origin: np.ndarray | None,
                step: np.ndarray) -> np.ndarray:
    """Voxel (col, row, slice) → patient LPS mm."""
    row_cos = iop[:3] if iop is not None else np.array([1.0, 0.0, 0.0])
    col_cos = iop[3:] if iop is not None else np.array([0.0, 1.0, 0.0])
    aff = np.eye(4)
    aff[:3, 0] = row_cos * spacing[1]
    aff[:3, 1] = col_cos * spacing[0]
    aff[:3, 2] = step
    aff[:3, 3] = origin if origin is not None else 0.0
    return aff


def slice_geometry(proj: np.ndarray, positions: list[np.ndarray] | None, iop: np.ndarray | None,
                    dz_header: float, notes: list[str]) -> tuple[float, np.ndarray, np.ndarray | None]:
    """(slice spacing, step vector, origin) from sorted projections/positions."""
    normal = normal_of(iop)
    if positions is None or len(positions) < 2:
        return dz_header, normal * dz_header, positions[0] if positions else None
    diffs = np.diff(proj)
    nonzero = diffs[np.abs(diffs) > 1e-4]
    if nonzero.size == 0:
        notes.append("all slices share one position; slice spacing taken from the header")
        return dz_header, normal * dz_header, positions[0]
    if nonzero.size < diffs.size:
        notes.append(f"{diffs.size - nonzero.size} slices repeat a position (several echoes/phases?)")
    dz = float(np.median(nonzero))
    if nonzero.max() - nonzero.min() > 0.1 * abs(dz):
        notes.append(f"slice spacing is not uniform ({nonzero.min():.3g}–{nonzero.max():.3g} mm); "
                     f"median {dz:.3g} mm used")
    if nonzero.size == diffs.size:
        step = (positions[-1] - positions[0]) / (len(positions) - 1)
    else:
        step = normal * dz
    return abs(dz), step, positions[0]
