"""The quality benchmark's holes: the mirror hole hides a square and its image across the symmetry axis."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from medgan.data.corruptions import stroke_hole
from medgan.evaluation import quality as Q
from medgan.evaluation.quality import HOLES, MIRROR_HOLE, make_hole, mirror_columns


def test_the_embedded_template_is_left_right_symmetric_and_the_mirror_is_found() -> None:
    images, _ = Q.test_set(4)
    for im in images:
        cols = mirror_columns(im)
        assert np.abs(im[:, cols] - im).mean() < 1e-3 * im.mean()


def test_mirror_columns_follow_an_off_centre_axis() -> None:
    rng = np.random.default_rng(0)
    half = rng.random((32, 20)).astype(np.float32)
    img = np.zeros((32, 64), np.float32)
    img[:, 10:30], img[:, 30:50] = half, half[:, ::-1]  # symmetric about 29.5, not the image centre (31.5)
    cols = mirror_columns(img)
    assert cols[10] == 49 and cols[29] == 30
    np.testing.assert_array_equal(img[:, cols][:, 10:50], img[:, 10:50])


def test_mirror_hole_is_the_square_and_its_mirror_image() -> None:
    images, labels = Q.test_set(3)
    for i, (im, lb) in enumerate(zip(images, labels)):
        square = make_hole("50×50", im, lb, seed=i)
        both = make_hole(MIRROR_HOLE, im, lb, seed=i)
        assert (both >= square).all() and both.sum() > square.sum()
        np.testing.assert_array_equal(both, both[:, mirror_columns(im)] | square)
    assert MIRROR_HOLE not in HOLES


def test_free_form_strokes_cross_the_tissue_even_where_there_is_little_of_it() -> None:
    im = np.zeros((256, 256), np.float32)
    lb = np.zeros((256, 256), np.uint8)
    im[190:214, 30:54], lb[190:214, 30:54] = 0.6, 2  # a 24×24 patch of tissue near a corner
    first = [(stroke_hole(im.shape, rng=np.random.default_rng([s, 31])) & (lb > 0)).any() for s in range(12)]
    assert sum(first) < 6  # the first draw of strokes misses such a patch for most seeds ...
    for s in range(12):
        m = make_hole("free-form", im, lb, seed=s)
        assert (m & (lb > 0)).any()  # ... so the hole is redrawn until it crosses it
        assert not (m & ~ndimage.binary_dilation(lb > 0, iterations=5)).any()  # and kept near the tissue


def test_train_check_slices_have_tissue_and_are_training_slices() -> None:
    seen, seen_labels = Q.train_check_set(5)
    train = Q.load_brain("train")
    assert len(seen) == 5 and all((lb > 0).any() for lb in seen_labels)
    assert all(any(np.array_equal(s, t) for t in train.images) for s in seen)
