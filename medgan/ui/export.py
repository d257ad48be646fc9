"""Export: PNG, NIfTI with the source geometry, DICOM marked synthetic and de-identified, metrics CSV."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from medgan.io import write_dicom, write_nifti, write_png
from medgan.ui.common import Session, UserError, friendly
from medgan.ui.run_panel import out_dir

logger = logging.getLogger(__name__)


def _need_result(s: Session) -> dict[str, Any]:
    if not s.result:
        raise UserError("run a model first; there is nothing to export yet")
    return s.result


def _stem(r: dict[str, Any]) -> str:
    return f"{r['task']}_{r['model']}_seed{r['seed']}"


def result_volume(s: Session, r: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, bool]:
    """(array in source units or labels (Z', H, W), affine of that array's grid, is_labels).

    A volume run gives the whole volume; a slice run gives a one-slice volume placed at its source position.
    Images are mapped back from [0, 1] through the window to the scan's intensity units.
    """
    is_labels = r["task"] == "segmentation"
    affine = np.asarray(getattr(s.scan, "affine", np.eye(4)), dtype=float)
    if r.get("volume") is not None:
        vol = r["volume_labels"] if is_labels else r["volume"]
        return _units(vol, r, is_labels), affine, is_labels
    sl = r["labels"] if is_labels else r["output"]
    axis, index = int(r["axis"]), int(r["index"])
    sl = sl if axis == 0 else sl[::-1]
    vol = np.expand_dims(sl, axis)
    shift = np.eye(4)
    shift[(2, 1, 0)[axis], 3] = index  # volume axis 0/1/2 = voxel z/y/x
    return _units(vol, r, is_labels), affine @ shift, is_labels


def _units(vol: np.ndarray, r: dict[str, Any], is_labels: bool) -> np.ndarray:
    if is_labels:
        return vol.astype(np.uint8)
    level, width = float(r["level"]), float(r["width"])
    return (vol.astype(np.float32) * width + (level - width / 2)).astype(np.float32)


@friendly("export the PNG")
def on_export_png(s: Session) -> list[str]:
    r = _need_result(s)
    d = out_dir()
    paths = []
    images = r.get("samples") or [r["output"]]
    for i, img in enumerate(images):
        p = d / (f"{_stem(r)}.png" if len(images) == 1 else f"{_stem(r)}_{i:02d}.png")
        write_png(p, np.clip(img, 0, 1))
        paths.append(str(p))
    if r.get("labels") is not None and r["task"] in ("segmentation", "generation"):
        p = d / f"{_stem(r)}_labels.png"
        write_png(p, np.asarray(r["labels"], np.uint8))
        paths.append(str(p))
    return paths


@friendly("export the NIfTI file")
def on_export_nifti(s: Session) -> list[str]:
    r = _need_result(s)
    if r["task"] == "generation" or s.scan is None:
        raise UserError("generated samples have no source geometry; export them as PNG")
    vol, affine, is_labels = result_volume(s, r)
    path = out_dir() / f"{_stem(r)}.nii.gz"
    write_nifti(path, vol, affine, is_labels, orientation=getattr(s.scan, "orientation", "RAS"))
    return [str(path)]


@friendly("export the DICOM file")
def on_export_dicom(s: Session) -> list[str]:
    r = _need_result(s)
    if r["task"] == "generation" or s.scan is None:
        raise UserError("generated samples have no source geometry; export them as PNG")
    is_labels = r["task"] == "segmentation"
    level, width = float(r["level"]), float(r["width"])
    if r.get("volume") is not None:
        unit = r["volume_labels"] if is_labels else r["volume"]
        target, index = out_dir() / "series", None
    else:
        unit = r["labels"] if is_labels else r["output"]
        target, index = out_dir() / f"{_stem(r)}.dcm", (int(r["index"]) if int(r["axis"]) == 0 else None)
        if int(r["axis"]) != 0:
            unit = unit[::-1]
    if is_labels:
        top = max(int(np.max(unit)), 1)
        unit, vrange = np.asarray(unit, np.float32) / top, (0.0, float(top))
    else:
        vrange = (level - width / 2, level + width / 2)
    files = write_dicom(target, np.asarray(unit, np.float32), s.scan, r["model"],
                        f"SYNTHETIC {r['task']} output of {r['model']}", value_range=vrange, slice_index=index)
    return [str(p) for p in files]


@friendly("export the metrics")
def on_export_csv(s: Session) -> list[str]:
    r = _need_result(s)
    rows = [{"task": r["task"], "model": r["model"], "seed": r["seed"], "slice": r["slice"], "metric": k,
             "value": v} for k, v in (r.get("metrics") or {}).items()]
    for i, m in enumerate(r.get("per_slice") or []):
        rows += [{"task": r["task"], "model": r["model"], "seed": r["seed"], "slice": i, "metric": k, "value": v}
                 for k, v in m.items()]
    if s.pinned:
        rows += [{"task": p.get("task"), "model": p.get("model"), "seed": p.get("seed"), "slice": p.get("slice"),
                  "metric": k, "value": v, "pinned": True}
                 for p in s.pinned for k, v in p.items() if k not in ("task", "model", "seed", "slice")]
    path = out_dir() / f"{_stem(r)}_metrics.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return [str(path)]
