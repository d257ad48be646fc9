"""Blinding of case files: real and generated cases are identical in format; file features carry no signal."""

from __future__ import annotations

import base64
import io
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medgan.db import get_engine
from medgan.turing.render import CANONICAL_SIZE, canonical_pixels, png_chunks, render_case
from medgan.turing.service import image_html
from medgan.turing.store import TuringStore
from medgan.turing.study import array_source, create_study, embedded_real
from medgan.turing.study_types import StudyOptions


@pytest.fixture(scope="module")
def study_cases(tmp_path_factory) -> tuple[TuringStore, list[dict], dict[str, bytes]]:
    """A study mixing embedded real slices (256²) with two 'generators' of other sizes and contrasts."""
    db = tmp_path_factory.mktemp("render") / "t.db"
    store = TuringStore(get_engine(f"sqlite:///{db}"))
    rng = np.random.default_rng(0)
    gen_a = array_source("gen_small", rng.random((40, 64, 64), dtype=np.float32), "generated")
    # a generator output left in [-1, 1] tanh units beyond range, non-square, with NaNs: still canonical
    wild = rng.normal(0, 1.5, (40, 120, 100)).astype(np.float32)
    wild[:, 0, 0] = np.nan
    gen_b = array_source("gen_wild", wild, "generated")
    info = create_study("render", StudyOptions(n_cases=30, seed=11, n_practice=4), real=embedded_real(),
                        generated=[gen_a, gen_b], store=store)
    table = store.case_table(info.id)
    pngs = {c["case_key"]: store.case_png(c["case_key"]) for c in table}
    return store, table, pngs


def test_every_case_file_has_identical_format(study_cases) -> None:
    _, table, pngs = study_cases
    truths = {c["truth"] for c in table}
    assert truths == {"real", "generated"}
    sizes = {len(b) for b in pngs.values()}
    assert len(sizes) == 1  # byte length identical for every case, real or generated
    layouts = {tuple(png_chunks(b)) for b in pngs.values()}
    assert len(layouts) == 1
    assert [k for k, _ in next(iter(layouts))] == [b"IHDR", b"IDAT", b"IEND"]  # no ancillary chunks
    heads = {b[:33] for b in pngs.values()}  # signature + IHDR
    assert len(heads) == 1
    for b in pngs.values():
        with Image.open(io.BytesIO(b)) as im:
            assert im.mode == "L" and im.size == (CANONICAL_SIZE, CANONICAL_SIZE)
            assert not {k for k in im.info if k not in ("dpi",)}  # no text, gamma, icc, exif
            assert np.asarray(im).dtype == np.uint8
        idat = b[41:-16]
        assert zlib.decompress(idat)[:: CANONICAL_SIZE + 1].count(0) == CANONICAL_SIZE  # filter 0 every row
    # served form: the same number of bytes too
    assert len({len(image_html(b)) for b in pngs.values()}) == 1


def test_file_feature_classifier_is_at_chance(study_cases) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    _, table, pngs = study_cases
    feats, y = [], []
    for c in table:
        b = pngs[c["case_key"]]
        chunks = png_chunks(b)
        with Image.open(io.BytesIO(b)) as im:
            w, h = im.size
            mode = len(im.mode)
        feats.append([len(b), w, h, mode, len(chunks), chunks[1][1], b[43], b[44], zlib.crc32(b[:33]) % 997])
        y.append(c["truth"] == "generated")
    X, y = np.array(feats, dtype=float), np.array(y)
    acc = cross_val_score(LogisticRegression(max_iter=200), X, y,
                          cv=StratifiedKFold(5, shuffle=True, random_state=0)).mean()
    majority = max(y.mean(), 1 - y.mean())
    # constant features: the best any classifier can do is the majority rate (chance)
    assert acc <= majority + 1e-9
    assert np.all(X == X[0])


def test_canonical_pixels_windowing_and_sizes() -> None:
    img = np.linspace(-0.5, 1.5, 64 * 64, dtype=np.float32).reshape(64, 64)
    px = canonical_pixels(img)
    assert px.shape == (256, 256) and px.dtype == np.uint8
    assert px.min() == 0 and px.max() == 255
    same = canonical_pixels(np.full((256, 256), 0.5, np.float32))
    assert np.all(same == 128)
    decoded = np.asarray(Image.open(io.BytesIO(render_case(np.eye(256, dtype=np.float32)))))
    assert np.array_equal(decoded, (np.eye(256) * 255).astype(np.uint8))
    with pytest.raises(ValueError, match="2-D"):
        canonical_pixels(np.zeros((2, 3, 4, 5)))


def test_html_has_no_file_name_or_path(study_cases, tmp_path: Path) -> None:
    store, table, pngs = study_cases
    html = image_html(next(iter(pngs.values())))
    assert "data:image/png;base64," in html
    for c in table:
        assert c["source"] not in html and c["case_key"] not in html
    b64 = html.split("base64,")[1].split('"')[0]
    assert base64.b64decode(b64) in pngs.values()
