"""``python -m medgan synthesize``: run any task on a scan file (or the embedded brain MRI) and write the results.

Examples::

    python -m medgan synthesize --task synthesis --out results/            # embedded brain, middle slice
    python -m medgan synthesize --task inpainting --input ct.dcm --region hole.png --format png,dicom
    python -m medgan synthesize --task segmentation --input brain.nii.gz --volume --format nifti
    python -m medgan synthesize --task enhancement --model wgangp_sr4 --degradation sr4
    python -m medgan synthesize --task generation --n 16 --seed 3

Outputs go to ``--out``: the image (PNG, NIfTI with the source geometry, DICOM marked synthetic) and
``metrics.csv`` (one row per slice and metric; volume runs add a "mean" row per metric).
"""

from __future__ import annotations

import argparse
import csv
import logging
from pathlib import Path
from typing import Any

import numpy as np

from medgan import tasks
from medgan.data import brain_scan
from medgan.defaults import DEFAULT_MODELS
from medgan.io import (
    CT_PRESETS,
    ScanError,
    read_scan,
    window,
    write_dicom,
    write_nifti,
    write_png,
)
from medgan.tasks.volume import VolumeResult

logger = logging.getLogger(__name__)

FORMATS = ("png", "nifti", "dicom")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, choices=list(DEFAULT_MODELS), help="which task to run")
    parser.add_argument("--model", default=None, help="checkpoint name (default: the bundled one for the task)")
    parser.add_argument("--input", default=None,
                        help="scan: DICOM file/folder/zip, NIfTI, PNG/JPEG/TIFF (default: embedded brain MRI)")
    parser.add_argument("--labels", default=None, help="label map file (PNG values = classes, NIfTI, DICOM SEG)")
    parser.add_argument("--region", default=None,
                        help="inpainting region file, non-zero = fill (default: a centred 50 px square at 256)")
    parser.add_argument("--slice", type=int, default=None, help="axial slice index (default: the middle one)")
    parser.add_argument("--volume", action="store_true", help="run on every slice of the volume")
    parser.add_argument("--window", default=None,
                        help="'LEVEL,WIDTH' or a CT preset (brain, soft tissue, lung, bone); default: automatic")
    parser.add_argument("--degradation", default=None, choices=["denoise", "sr4", "deblur"],
                        help="enhancement: degradation to apply first (default: the checkpoint's)")
    parser.add_argument("--no-degrade", action="store_true", help="enhancement: the input is already degraded")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=8, help="generation: number of samples")
    parser.add_argument("--format", default="png", help=f"comma-separated: {', '.join(FORMATS)}")
    parser.add_argument("--out", default="medgan-results", help="output folder")


def _window(scan: Any, spec: str | None) -> tuple[float, float]:
    if spec is None:  # the models' input normalisation (medgan.domain)
        from medgan.domain import scan_window

        return scan_window(scan)
    if spec in CT_PRESETS:
        return CT_PRESETS[spec]
    try:
        level, width = (float(v) for v in spec.split(","))
    except ValueError:
        raise ValueError(f"--window must be 'LEVEL,WIDTH' or one of {', '.join(CT_PRESETS)}; got {spec!r}") from None
    return level, width


def _label_volume(path: str | None, scan: Any) -> np.ndarray | None:
    if path is None:
        return None if scan.labels is None else np.asarray(scan.labels)

    lab = read_scan(path)
    vol = lab.labels if lab.labels is not None else lab.volume
    vol = np.rint(np.asarray(vol)).astype(np.int64)
    if vol.min() < 0 or vol.max() > 255:
        raise ValueError(f"{path}: a label map holds small non-negative integers (0 = background)")
    return vol.astype(np.uint8)


def _fit_labels(lab: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """A single-slice label map is repeated over the volume; otherwise the shapes must match."""
    if lab is None:
        return None
    if lab.shape == tuple(shape):
        return lab
    if lab.shape[0] == 1 and lab.shape[1:] == tuple(shape[1:]):
        return np.repeat(lab, shape[0], axis=0)
    raise ValueError(f"the label map is {'×'.join(map(str, lab.shape))} but the scan is "
                     f"{'×'.join(map(str, shape))}")


def _write_metrics(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["task", "model", "slice", "metric", "value"])
        w.writeheader()
        w.writerows(rows)


def run(args: argparse.Namespace) -> Path:
    """Run the task; returns the output folder."""

    formats = {f.strip().lower() for f in args.format.split(",") if f.strip()}
    if not formats <= set(FORMATS):
        raise ValueError(f"unknown --format {', '.join(sorted(formats - set(FORMATS)))}; valid: {', '.join(FORMATS)}")
    model = args.model or DEFAULT_MODELS[args.task]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    stem = f"{args.task}_{model}"
    if args.task == "generation":
        for i, r in enumerate(tasks.generate(model, n=args.n, seed=args.seed)):
            write_png(out / f"{stem}_{i:03d}.png", r.output)
            if r.labels is not None:
                write_png(out / f"{stem}_{i:03d}_labels.png", r.labels)
            rows += [{"task": args.task, "model": model, "slice": i, "metric": k, "value": v}
                     for k, v in r.metrics.items()]
        _write_metrics(out / "metrics.csv", rows)
        return out


    scan = read_scan(args.input) if args.input else brain_scan()
    level, width = _window(scan, args.window)
    vol = window(np.asarray(scan.volume), level, width)
    labels = _fit_labels(_label_volume(args.labels, scan), vol.shape)
    if args.task == "synthesis" and labels is None:
        raise ValueError("synthesis needs a label map: pass --labels FILE (PNG with class values, NIfTI, DICOM SEG)")
    if args.volume:
        idx = list(range(vol.shape[0]))
    else:
        k = vol.shape[0] // 2 if args.slice is None else args.slice
        if not 0 <= k < vol.shape[0]:
            raise ValueError(f"--slice {k} is out of range: the scan has {vol.shape[0]} slice(s)")
        idx = [k]
    sub = vol[idx]
    lab_sub = None if labels is None else labels[idx]
    regions = None
    if args.task == "inpainting":
        if args.region:
            reg = _fit_labels((_label_volume(args.region, scan) > 0).astype(np.uint8), vol.shape)[idx] > 0
        else:
            from medgan.data.corruptions import square_hole

            reg = np.broadcast_to(square_hole(vol.shape[1:], center=(vol.shape[1] // 2, vol.shape[2] // 2)),
                                  sub.shape)
        regions = reg
    if args.task == "enhancement" and args.no_degrade:
        res = [tasks.enhance(s, model, degradation=args.degradation, degrade=False) for s in sub]
        result = VolumeResult(np.stack([r.output for r in res]), None, sub, {}, [r.metrics for r in res])
    else:
        result = tasks.run_volume(args.task, sub, model, labels=lab_sub, regions=regions, seed=args.seed,
                                  degradation=args.degradation,
                                  progress=lambda i, n: logger.info("slice %d/%d", i, n) if n > 1 else None)
    from medgan.domain import check

    dom = check(sub[len(idx) // 2], model, scan)  # the shown (middle) slice
    if not dom.in_domain:
        print(dom.warning(markdown=False))
    for m in result.per_slice:
        m.update(dom.metrics())
    result.metrics.update(dom.metrics())
    for k, m in zip(idx, result.per_slice):
        rows += [{"task": args.task, "model": model, "slice": k, "metric": name, "value": v} for name, v in m.items()]
    if len(idx) > 1:
        rows += [{"task": args.task, "model": model, "slice": "mean", "metric": name, "value": v}
                 for name, v in result.metrics.items()]
    is_labels = args.task == "segmentation"
    data = result.labels if is_labels else result.output
    if "png" in formats:
        for j, k in enumerate(idx):
            write_png(out / (f"{stem}.png" if len(idx) == 1 else f"{stem}_{k:04d}.png"), data[j])
    affine = np.asarray(scan.affine, float).copy()
    if len(idx) == 1:
        shift = np.eye(4)
        shift[2, 3] = idx[0]
        affine = affine @ shift
    if "nifti" in formats:
        phys = data if is_labels else (data * width + (level - width / 2)).astype(np.float32)
        write_nifti(out / f"{stem}.nii.gz", phys, affine, is_labels, orientation=scan.orientation)
    if "dicom" in formats:
        unit = data.astype(np.float32) / max(int(data.max()), 1) if is_labels else data
        vrange = (0.0, float(max(int(data.max()), 1))) if is_labels else (level - width / 2, level + width / 2)
        target = out / f"{stem}.dcm" if len(idx) == 1 else out / f"{stem}_dicom"
        write_dicom(target, unit[0] if len(idx) == 1 else unit, scan, model, f"SYNTHETIC {args.task} by {model}",
                    value_range=vrange, slice_index=idx[0] if len(idx) == 1 else None)
    _write_metrics(out / "metrics.csv", rows)
    return out


def main(args: argparse.Namespace) -> int:
    try:
        out = run(args)
    except (ValueError, ScanError, FileNotFoundError) as exc:
        print(f"error: {exc}")
        return 2
    print(f"results written to {out}/ (metrics in {out / 'metrics.csv'})")
    return 0
