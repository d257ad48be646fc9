"""Reader-study methodology: MRMC confidence intervals against simulations with a known truth, per-case fooling
rates, the export's shared case ids and design record, the matched presentation pipeline and its separability
check, the held-out real pool, and the rate-limited admin login."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medgan.db import get_engine
from medgan.turing import analysis as A
from medgan.turing.simulate import coverage, population_accuracy, simulate_rows
from medgan.turing.store import TuringStore


# -- MRMC ---------------------------------------------------------------------------------------------------------
def test_or_hillis_covers_the_known_truth_and_is_wider_than_pooled_wilson() -> None:
    """4 readers × 100 cases with reader and case variance (logit sd 0.3 and 1.0): over 600 simulated studies
    the OR–Hillis 95 % CI holds the population accuracy about 95 % of the time, the pooled Wilson interval far
    less often (it treats 400 correlated votes as independent)."""
    c = coverage(600, 4, 100, mu=0.45, reader_sd=0.3, case_sd=1.0, seed=11)
    assert 0.91 <= c["or_hillis_coverage"] <= 0.98, c
    assert c["wilson_coverage"] < 0.85, c
    assert c["or_hillis_mean_width"] > 1.6 * c["wilson_mean_width"], c
    # without reader variance and with few readers the MRMC interval still covers
    c0 = coverage(300, 4, 100, mu=0.45, reader_sd=0.0, case_sd=0.8, seed=12)
    assert 0.91 <= c0["or_hillis_coverage"] <= 0.99, c0


def test_seed_study_sixty_plus_minus_ten() -> None:
    """The empirical study's '60 % ± 10 %' (4 readers × 100 cases) is what the MRMC CI gives a study like it; the
    pooled Wilson interval would have said ± 5 %."""
    rows = simulate_rows(4, 100, mu=0.45, reader_sd=0.3, case_sd=1.0, rng=np.random.default_rng(2023))
    s = A.summarize(rows)
    m, o = s["mrmc"]["accuracy"], s["overall"]
    assert population_accuracy(0.45, 0.3, 1.0) == pytest.approx(0.591, abs=0.002)
    assert m["estimate"] == pytest.approx(o["accuracy"]) and 0.57 <= m["estimate"] <= 0.63
    assert 0.08 <= (m["ci_high"] - m["ci_low"]) / 2 <= 0.12
    assert (o["ci_high"] - o["ci_low"]) / 2 < 0.05
    assert s["mrmc"]["readers"] == 4 and s["mrmc"]["cases"] == 100


def test_jackknife_auc_and_per_case_rates_match_references() -> None:
    from sklearn.metrics import roc_auc_score

    rows = simulate_rows(3, 40, mu=0.8, reader_sd=0.2, case_sd=0.5, rng=np.random.default_rng(4))
    df = pd.DataFrame(rows)
    s = A.summarize(rows)
    readers, cases, cell = A.crossed(rows)
    scores = np.array([[A.vote_score(cell[(r, c)]["vote"], cell[(r, c)]["confidence"]) for c in cases]
                       for r in readers])
    pos = np.array([cell[(readers[0], c)]["truth"] == "generated" for c in cases])
    theta, jack = A._jackknife_auc(scores, pos)
    for j in range(3):
        assert theta[j] == pytest.approx(roc_auc_score(pos, scores[j]))
        keep = np.arange(len(cases)) != 7
        assert jack[j, 7] == pytest.approx(roc_auc_score(pos[keep], scores[j][keep]))
    assert s["mrmc"]["auc"]["estimate"] == pytest.approx(theta.mean())
    fooled = (df["vote"] != df["truth"]).groupby(df["case"]).mean()
    got = {c["case"]: c["fooled"] for c in s["per_case"]}
    assert got == pytest.approx(fooled.to_dict())
    assert [c["fooled"] for c in s["per_case"]] == sorted(got.values(), reverse=True)
    per_reader = {r["reader"]: r for r in s["per_reader"]}
    for name, g in df.groupby("reader"):
        gen = g[g["truth"] == "generated"]
        assert per_reader[name]["sensitivity"] == pytest.approx((gen["vote"] == "generated").mean())


# -- export -------------------------------------------------------------------------------------------------------
def test_export_has_one_case_id_per_case_and_the_design(tmp_path: Path) -> None:
    from medgan.turing.results import export_csv
    from medgan.turing.study import array_source, create_study
    from medgan.turing.study_types import StudyOptions

    store = TuringStore(get_engine(f"sqlite:///{tmp_path / 'x.db'}"))
    rng = np.random.default_rng(0)
    secret = bytes(range(32))
    info = create_study("export", StudyOptions(n_cases=10),
                        real=array_source("real-set", rng.random((10, 32, 32), dtype=np.float32), "real"),
                        generated=[array_source("ckpt_x", rng.random((10, 32, 32), dtype=np.float32), "generated")],
                        store=store, secret=secret)
    for k, (_, code) in enumerate(store.issue_codes(info.id, 3)):
        reader = store.reader_by_code(info.id, code)
        while (case := store.next_case(reader)) is not None:
            store.submit_vote(reader, case.token, "real" if k else "generated", 3)
    votes, _, design = export_csv(store, info.id, tmp_path / "out")
    df = pd.read_csv(votes)
    assert len(df) == 30 and {"case", "reader", "truth", "source", "vote", "confidence", "time_ms",
                              "voted_at"} <= set(df.columns)
    per_case = df.groupby("case")
    assert len(per_case) == 10 and (per_case["reader"].nunique() == 3).all()  # same ids for every reader
    assert (per_case["truth"].nunique() == 1).all() and (per_case["source"].nunique() == 1).all()
    assert df["case_token"].nunique() == 30  # the reader's own tokens differ
    d = json.loads(design.read_text())
    assert d["design"]["seed_commitment_sha256"] == hashlib.sha256(secret).hexdigest()
    assert secret.hex() not in design.read_text()
    assert [g["name"] for g in d["design"]["generated_sources"]] == ["ckpt_x"]
    assert d["design"]["real_sources"][0]["name"] == "real-set"
    assert sorted(c["case"] for c in d["cases"]) == sorted(df["case"].unique())
    # case ids carry nothing about the truth: the stored order is a secret shuffle
    order = [c["truth"] for c in sorted(d["cases"], key=lambda c: c["case"])]
    assert order != sorted(order) and order != sorted(order, reverse=True)


# -- presentation -------------------------------------------------------------------------------------------------
def _slices() -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    from medgan.data import load_brain

    parts = [load_brain(split) for split in ("val", "test")]
    images = np.concatenate([p.images for p in parts])
    order = np.argsort(np.concatenate([p.slice_index for p in parts]))
    real = images[order[0::2]]  # 256 px, native detail; neighbouring slices alternate between the two groups
    # what a 64 px generator could produce at best: the other slices at 64 px
    gen = np.stack([np.asarray(Image.fromarray(s, mode="F").resize((64, 64), Image.Resampling.LANCZOS))
                    for s in images[order[1::2]]]).clip(0, 1)
    return real, gen


def test_separability_check_fires_on_mismatched_pipelines_only() -> None:
    from medgan.turing.presentation import check_message, present_pixels, separability_check
    from medgan.turing.render import canonical_pixels

    real, gen = _slices()
    # the old pipeline: each image straight to 256 px (real keeps its detail, 64 px outputs are upscaled)
    old = separability_check([canonical_pixels(x) for x in real], [canonical_pixels(x) for x in gen])
    assert "sharpness" in old["fired"] and old["auc"]["sharpness"] > 0.9
    assert "sharpness (mean |Laplacian|)" in check_message(old)
    # the matched pipeline: both through the generator's native 64 px, the same quantisation and filter
    new = separability_check([present_pixels(x, 64) for x in real], [present_pixels(x, 64) for x in gen])
    assert "sharpness" not in new["fired"], new
    assert new["auc"]["sharpness"] < 0.75


def test_create_study_refuses_a_separable_design_when_asked(tmp_path: Path) -> None:
    from medgan.turing.study import array_source, create_study
    from medgan.turing.study_types import StudyOptions

    store = TuringStore(get_engine(f"sqlite:///{tmp_path / 's.db'}"))
    rng = np.random.default_rng(1)
    real = array_source("bright", 0.5 + 0.5 * rng.random((12, 32, 32), dtype=np.float32), "real")
    gen = array_source("dark", 0.4 * rng.random((12, 32, 32), dtype=np.float32), "generated")
    with pytest.raises(ValueError, match="mean intensity"):
        create_study("sep", StudyOptions(n_cases=16), real=real, generated=[gen], store=store,
                     on_separable="refuse")
    info = create_study("sep", StudyOptions(n_cases=16), real=real, generated=[gen], store=store)
    assert "mean" in info.design["presentation"]["check"]["fired"]


def test_real_pool_defaults_to_slices_not_used_for_training() -> None:
    from medgan.turing.study import default_real_set, embedded_real

    name = default_real_set(["hingegan_generation", "dcgan_generation"])
    assert name == "embedded-heldout"
    src = embedded_real(name)
    assert not any(ref.startswith("train") for ref in src.refs) and len(src.refs) == 40
    assert "no training slices" in src.note
    import argparse

    from medgan.turing.cli import add_arguments

    p = argparse.ArgumentParser()
    add_arguments(p)
    assert p.parse_args(["create", "x", "--checkpoint", "a"]).real is None  # chosen from the cards, not "all"


# -- admin login --------------------------------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_admin_guard_backs_off_locks_out_and_issues_sessions() -> None:
    from medgan.turing.service import AdminGuard

    clock = Clock()
    g = AdminGuard("correct horse", free_failures=3, global_failures=10, global_window_s=60, global_lock_s=120,
                   clock=clock)
    assert g._hash != b"correct horse" and len(g._hash) == 32  # only a salted scrypt hash is kept
    msgs = [g.login("guess", "10.0.0.1") for _ in range(3)]
    assert [t for t, _ in msgs] == [None] * 3 and "locked" not in msgs[0][1] and "locked for 2 s" in msgs[2][1]
    assert g.login("correct horse", "10.0.0.3")[0]  # another client is not locked out
    token, msg = g.login("correct horse", "10.0.0.1")
    assert token is None and "locked" in msg  # the right password is refused during the lock-out
    clock.t += 3
    token, msg = g.login("correct horse", "10.0.0.1")
    assert token and msg == "Admin unlocked." and g.valid(token)
    assert not g.valid(True) and not g.valid("forged") and not g.valid(None)
    # back-off doubles per failure
    waits = []
    for _ in range(5):
        clock.t += 10_000
        _, msg = g.login("wrong", "10.0.0.2")
        waits.append(msg)
    assert [int(m.split("locked for ")[1].split(" ")[0]) for m in waits[2:]] == [2, 4, 8]
    # global limit: many clients, one guess each
    for i in range(12):
        g.login("wrong", f"192.168.0.{i}")
    token, msg = g.login("correct horse", "172.16.0.1")
    assert token is None and "try again in" in msg
    clock.t += 121
    token, _ = g.login("correct horse", "172.16.0.1")
    assert g.valid(token)
    clock.t += 9 * 3600
    assert not g.valid(token)  # sessions expire
