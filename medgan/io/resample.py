"""Nearest-neighbour resampling of a label volume onto another scan's voxel grid, by world coordinates."""

from __future__ import annotations

import numpy as np

from medgan.io.scan import Scan

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def world_affine(scan: Scan) -> np.ndarray:
    """The scan's (col, row, slice) → RAS mm affine, whatever its ``orientation``."""
    return _LPS_TO_RAS @ scan.affine if scan.orientation == "LPS" else np.asarray(scan.affine, dtype=float)


def labels_on_grid(target: Scan, labels: np.ndarray, source: Scan) -> tuple[np.ndarray, float]:
    """Sample ``labels`` (Z, H, W) on ``source``'s grid at the voxel centres of ``target`` (nearest neighbour).

    Returns (labels (Z, H, W) on the target grid, dtype kept, 0 outside the source; fraction of target voxels
    that fall inside the source grid).
    """
    src_aff, tgt_aff = world_affine(source), world_affine(target)
    m = np.linalg.solve(src_aff, tgt_aff)
    # A source slice only covers target slices whose centre lies within half a *target* slice of it (a
    # single thick SEG frame must not spill onto the neighbouring thin slices).
    src_dz, tgt_dz = float(np.linalg.norm(src_aff[:3, 2])), float(np.linalg.norm(tgt_aff[:3, 2]))
    z, h, w = target.shape
    lz, lh, lw = labels.shape
    out = np.zeros((z, h, w), dtype=labels.dtype)
    rr, cc = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    pts = np.stack([cc.ravel(), rr.ravel(), np.zeros(cc.size), np.ones(cc.size)])
    inside_total = 0
    for k in range(z):  # slice by slice keeps memory at one slice of coordinates
        pts[2] = k
        cont = m @ pts
        idx = np.rint(cont).astype(np.int64)
        near = np.abs(cont[2] - idx[2]) * src_dz <= 0.5 * tgt_dz + 1e-3
        inside = near & (idx[0] >= 0) & (idx[0] < lw) & (idx[1] >= 0) & (idx[1] < lh) & (idx[2] >= 0) & (idx[2] < lz)
        inside_total += int(inside.sum())
        flat = out[k].reshape(-1)
        flat[inside] = labels[idx[2, inside], idx[1, inside], idx[0, inside]]
    return out, inside_total / max(z * h * w, 1)
