"""Dice / IoU / HD95: values on hand-made maps, the empty-class convention, identical inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from medgan.data import load_brain
from medgan.metrics import dice_per_class, hausdorff95, iou_per_class, mean_dice, mean_iou


def test_identical_maps_score_one() -> None:
    lab = load_brain("test").labels[:3]
    assert dice_per_class(lab, lab, 4).tolist() == [1.0, 1.0, 1.0]
    assert float(mean_iou(torch.from_numpy(lab), torch.from_numpy(lab), 4)) == 1.0
    assert hausdorff95(lab, lab, 4, spacing=(1.0, 1.0)).tolist() == [0.0, 0.0, 0.0]


def test_dice_and_iou_values() -> None:
    pred = np.zeros((10, 10), np.uint8)
    ref = np.zeros((10, 10), np.uint8)
    pred[0:4, 0:5] = 1  # 20 px
    ref[0:4, 0:10] = 1  # 40 px, overlap 20
    pred[6:8, 0:2] = 2  # class 2 only in pred
    d = dice_per_class(pred, ref, 3)
    assert d.shape == (2,)
    assert d[0].item() == pytest.approx(2 * 20 / 60)
    assert d[1].item() == 0.0
    assert iou_per_class(pred, ref, 3)[0].item() == pytest.approx(20 / 40)
    with_bg = dice_per_class(pred, ref, 3, include_background=True)
    assert with_bg.shape == (3,)
    per_image = dice_per_class(np.stack([pred, ref]), np.stack([ref, ref]), 3, per_image=True)
    assert per_image.shape == (2, 2) and per_image[1, 0].item() == 1.0


def test_empty_class_convention() -> None:
    pred = np.zeros((8, 8), np.uint8)
    ref = np.zeros((8, 8), np.uint8)
    pred[:4] = 1
    ref[:4] = 1
    # class 2 and 3 are absent from both maps
    assert dice_per_class(pred, ref, 4).tolist() == [1.0, 1.0, 1.0]
    nan = dice_per_class(pred, ref, 4, empty_value=float("nan"))
    assert nan[0].item() == 1.0 and math.isnan(nan[1].item()) and math.isnan(nan[2].item())
    ref[:4] = 0  # class 1 present only in pred
    assert float(mean_dice(pred, ref, 4, empty_value=float("nan"))) == 0.0
    assert float(mean_dice(pred, ref, 4)) == pytest.approx(2 / 3)


def test_labels_out_of_range_rejected() -> None:
    with pytest.raises(ValueError, match="0..3"):
        dice_per_class(np.full((4, 4), 5), np.zeros((4, 4), int), 4)
    with pytest.raises(ValueError, match="integer label map"):
        dice_per_class(np.full((4, 4), 0.5), np.zeros((4, 4)), 4)


def test_hausdorff95_shift_in_mm() -> None:
    ref = np.zeros((40, 40), np.uint8)
    ref[10:30, 10:30] = 1
    pred = np.roll(ref, 3, axis=1)
    hd_px = hausdorff95(pred, ref, 2)
    assert hd_px.item() == pytest.approx(3.0)
    assert hausdorff95(pred, ref, 2, spacing=(0.5, 2.0)).item() == pytest.approx(6.0)
    stack = hausdorff95(np.stack([pred, pred]), np.stack([ref, ref]), 2, spacing=(0.5, 2.0))
    assert stack.item() == pytest.approx(6.0)  # mean over slices
    empty = np.zeros_like(ref)
    assert math.isinf(hausdorff95(empty, ref, 2).item())
    assert hausdorff95(empty, empty, 2).item() == 0.0


def _brute_hd95(p: np.ndarray, t: np.ndarray, spacing: tuple[float, ...]) -> float:
    from scipy import ndimage
    from scipy.spatial.distance import cdist

    def surf(m: np.ndarray) -> np.ndarray:
        return np.argwhere(m & ~ndimage.binary_erosion(m, border_value=0)) * np.asarray(spacing)

    d = cdist(surf(p), surf(t))
    return max(np.percentile(d.min(1), 95), np.percentile(d.min(0), 95))


def test_hausdorff95_3d_matches_brute_force() -> None:
    zz, yy, xx = np.mgrid[0:12, 0:24, 0:24]
    ref = ((zz - 6) / 4.0) ** 2 + ((yy - 12) / 8.0) ** 2 + ((xx - 12) / 7.0) ** 2 <= 1
    pred = ((zz - 5) / 4.5) ** 2 + ((yy - 13) / 8.0) ** 2 + ((xx - 11) / 6.0) ** 2 <= 1
    spacing = (2.5, 1.0, 0.8)
    got = hausdorff95(pred.astype(np.uint8), ref.astype(np.uint8), 2, spacing=spacing).item()
    assert got == pytest.approx(_brute_hd95(pred, ref, spacing), rel=1e-9)
    assert got > 0
