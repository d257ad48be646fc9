"""The embedded brain dataset builds offline, with the right shapes, labels and disjoint slab splits."""

from __future__ import annotations

import numpy as np

from medgan.data import CLASS_NAMES, load_brain, load_brain_volume


def test_splits_shapes_and_labels() -> None:
    sizes = {}
    for split in ("train", "val", "test"):
        b = load_brain(split)
        assert b.images.dtype == np.float32 and b.images.shape[1:] == (256, 256)
        assert b.labels.dtype == np.uint8 and b.labels.shape == b.images.shape
        assert 0.0 <= b.images.min() and b.images.max() <= 1.0
        assert set(np.unique(b.labels)) == set(range(len(CLASS_NAMES)))
        sizes[split] = len(b)
    total = sum(sizes.values())
    assert 0.6 < sizes["train"] / total < 0.8
    assert sizes["val"] >= 10 and sizes["test"] >= 10


def test_splits_disjoint_and_not_adjacent() -> None:
    idx = {s: set(load_brain(s).slice_index.tolist()) for s in ("train", "val", "test")}
    assert not (idx["train"] & idx["val"]) and not (idx["train"] & idx["test"]) and not (idx["val"] & idx["test"])
    held = idx["val"] | idx["test"]
    assert all(k - 1 not in held and k + 1 not in held for k in idx["train"])


def test_volume_geometry() -> None:
    bv = load_brain_volume()
    assert bv.volume.shape == bv.labels.shape and bv.volume.shape[1:] == (256, 256)
    assert bv.affine.shape == (4, 4) and np.isclose(abs(np.linalg.det(bv.affine[:3, :3])), 1.0)
    # background is exactly zero and the brain is bright
    assert bv.volume[bv.labels == 0].max() == 0.0
    assert bv.volume[bv.labels == 3].mean() > bv.volume[bv.labels == 1].mean()
