"""The quality benchmark's holes: the mirror hole hides a square and its image across the symmetry axis."""

from __future__ import annotations

import numpy as np

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
