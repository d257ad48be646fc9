"""Analysis against scipy / scikit-learn / statsmodels on fixed data; simulated readers recovered within the CI;
CSV export and the model-card write-back."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medgan.turing import analysis as A


def _fixed_rows(seed: int = 3, n_readers: int = 4, n_cases: int = 100, acc: float = 0.65) -> list[dict]:
    rng = np.random.default_rng(seed)
    truth = np.array(["real"] * (n_cases // 2) + ["generated"] * (n_cases - n_cases // 2))
    sources = np.where(truth == "real", "real-set", np.where(np.arange(n_cases) % 2, "ckpt_a", "ckpt_b"))
    rows = []
    for r in range(n_readers):
        correct = rng.random(n_cases) < acc
        for c in range(n_cases):
            vote = truth[c] if correct[c] else ("real" if truth[c] == "generated" else "generated")
            rows.append({"reader": f"R{r + 1:02d}", "case_key": f"c{c}", "case_token": f"t{r}-{c}",
                         "truth": str(truth[c]), "source": str(sources[c]), "vote": str(vote),
                         "confidence": int(rng.integers(1, 6)), "time_ms": int(rng.integers(500, 9000)),
                         "timed_out": False, "practice": False})
    return rows


def test_wilson_and_binomial_match_references() -> None:
    from scipy.stats import binomtest
    from statsmodels.stats.proportion import proportion_confint

    for k, n in [(0, 10), (3, 10), (60, 100), (100, 100), (257, 400)]:
        lo, hi = A.wilson_ci(k, n)
        rlo, rhi = proportion_confint(k, n, alpha=0.05, method="wilson")
        assert lo == pytest.approx(rlo, abs=1e-10) and hi == pytest.approx(rhi, abs=1e-10)
        assert A.binomial_p(k, n) == pytest.approx(binomtest(k, n, 0.5).pvalue, rel=1e-12)
    assert np.isnan(A.wilson_ci(0, 0)[0])


def test_kappas_match_references() -> None:
    from sklearn.metrics import cohen_kappa_score
    from statsmodels.stats.inter_rater import fleiss_kappa

    rng = np.random.default_rng(0)
    a = list(rng.choice(["real", "generated"], 80))
    b = [x if rng.random() < 0.7 else ("real" if x == "generated" else "generated") for x in a]
    assert A.cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
    table = rng.integers(0, 5, size=(30, 2))
    table[:, 1] = 4 - table[:, 0]
    assert A.fleiss_kappa(table) == pytest.approx(fleiss_kappa(table, method="fleiss"), abs=1e-12)
    rows = _fixed_rows()
    s = A.summarize(rows)
    assert len(s["kappa_pairs"]) == 6
    wide = pd.DataFrame(rows).pivot(index="case_key", columns="reader", values="vote")
    for p in s["kappa_pairs"]:
        assert p["kappa"] == pytest.approx(cohen_kappa_score(wide[p["reader_a"]], wide[p["reader_b"]]), abs=1e-12)
    counts = np.stack([(wide == "real").sum(axis=1), (wide == "generated").sum(axis=1)], axis=1)
    assert s["fleiss_kappa"] == pytest.approx(fleiss_kappa(counts, method="fleiss"), abs=1e-12)


def test_rates_roc_auc_match_sklearn() -> None:
    from sklearn.metrics import accuracy_score, recall_score, roc_auc_score, roc_curve

    rows = _fixed_rows()
    s = A.summarize(rows)
    y = np.array([r["truth"] == "generated" for r in rows])
    pred = np.array([r["vote"] == "generated" for r in rows])
    o = s["overall"]
    assert o["n"] == 400
    assert o["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert o["sensitivity"] == pytest.approx(recall_score(y, pred))
    assert o["specificity"] == pytest.approx(recall_score(~y, ~pred))
    scores = np.array([A.vote_score(r["vote"], r["confidence"]) for r in rows])
    assert s["auc"] == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    fpr, tpr, _ = roc_curve(y, scores, drop_intermediate=False)
    assert np.allclose(s["roc"]["fpr"], fpr) and np.allclose(s["roc"]["tpr"], tpr)
    for r in s["per_reader"]:
        rr = [x for x in rows if x["reader"] == r["reader"]]
        yy = [x["truth"] == "generated" for x in rr]
        assert r["auc"] == pytest.approx(roc_auc_score(yy, [A.vote_score(x["vote"], x["confidence"]) for x in rr]))
    by_src = {p["source"]: p for p in s["per_source"]}
    assert set(by_src) == {"real-set", "ckpt_a", "ckpt_b"}
    assert sum(p["n"] for p in by_src.values()) == 400
    times = [r["time_ms"] for r in rows]
    assert o["median_time_s"] == pytest.approx(np.median(times) / 1000)


def test_practice_and_late_votes_not_scored() -> None:
    rows = _fixed_rows(n_readers=2, n_cases=20)
    rows[0] = {**rows[0], "practice": True}
    rows[1] = {**rows[1], "timed_out": True}
    s = A.summarize(rows)
    assert s["overall"]["n"] == 38 and s["overall"]["n_timed_out"] == 1


def test_simulated_readers_recovered_within_ci() -> None:
    """Readers with known accuracy p: the Wilson 95 % CI covers p in about 95 % of simulated studies."""
    covered = 0
    trials = 200
    for t in range(trials):
        p = [0.5, 0.6, 0.7, 0.85][t % 4]
        s = A.summarize(_fixed_rows(seed=1000 + t, acc=p))
        o = s["overall"]
        covered += o["ci_low"] <= p <= o["ci_high"]
    assert 0.91 <= covered / trials <= 0.99
    # the paper's scenario: 4 experts, 100 images, accuracy 60 %: point estimate within the CI and near 0.6
    o = A.summarize(_fixed_rows(seed=7, acc=0.6))["overall"]
    assert o["ci_low"] <= 0.6 <= o["ci_high"] and abs(o["accuracy"] - 0.6) < 0.08


def test_store_end_to_end_simulation_and_exports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from medgan.db import get_engine, medgan_home
    from medgan.turing import results
    from medgan.turing.store import TuringStore
    from medgan.turing.study import array_source, create_study
    from medgan.turing.study_types import StudyOptions

    store = TuringStore(get_engine(f"sqlite:///{tmp_path / 'sim.db'}"))
    rng = np.random.default_rng(1)
    real = array_source("real-set", rng.random((60, 32, 32), dtype=np.float32), "real")
    gen_a = array_source("sim_ckpt_a", rng.random((60, 32, 32), dtype=np.float32), "generated")
    gen_b = array_source("sim_ckpt_b", rng.random((60, 32, 32), dtype=np.float32), "generated")
    info = create_study("sim", StudyOptions(n_cases=100, seed=5, n_practice=2), real=real,
                        generated=[gen_a, gen_b], store=store)
    truth = {c["id"]: c["truth"] for c in store.case_table(info.id)}
    assert sum(t == "real" for t in truth.values()) == 51  # 50 scored + 1 practice
    from sqlalchemy import select

    from medgan.turing.schema import assignments
    p_true = 0.75
    for _, code in store.issue_codes(info.id, 4):
        reader = store.reader_by_code(info.id, code)
        while (case := store.next_case(reader)) is not None:
            with store.engine.connect() as conn:
                cid = conn.execute(select(assignments.c.case_id).where(assignments.c.token == case.token)).scalar()
            t = truth[cid]
            right = rng.random() < p_true
            vote = t if right else ("real" if t == "generated" else "generated")
            store.submit_vote(reader, case.token, vote, int(rng.integers(3, 6)) if right else 1)
    summary, rows = results.study_summary(store, "sim")
    o = summary["overall"]
    assert o["n"] == 400 and o["ci_low"] <= p_true <= o["ci_high"]
    assert summary["auc"] > 0.75  # confidence carries signal here
    votes_path, summary_path, _ = results.export_csv(store, "sim", tmp_path / "export")
    df = pd.read_csv(votes_path)
    assert len(df) == 408 and set(A.VOTE_CSV_FIELDS) <= set(df.columns)
    assert df["practice"].sum() == 8
    summ = pd.read_csv(io.StringIO(summary_path.read_text().split("\nagreement")[0]))
    assert summ.iloc[0]["n"] == 400
    figs = results.charts(summary, rows)
    assert set(figs) == {"accuracy", "roc", "times", "sources"}
    # model cards: user checkpoints always, bundled ones only when asked
    user_dir = medgan_home() / "checkpoints"
    user_dir.mkdir(parents=True, exist_ok=True)
    (user_dir / "sim_ckpt_a.json").write_text(json.dumps({"name": "sim_ckpt_a", "task": "generation",
                                                    "generator": {"name": "dcgan"}, "turing": None}))
    repo_dir = tmp_path / "repo_ckpts"
    repo_dir.mkdir()
    (repo_dir / "sim_ckpt_b.json").write_text(json.dumps({"name": "sim_ckpt_b", "task": "generation",
                                                    "generator": {"name": "dcgan"}, "turing": None}))
    monkeypatch.setattr(results, "REPO_CHECKPOINTS", repo_dir)
    assert results.write_model_cards(store, "sim") == [user_dir / "sim_ckpt_a.json"]
    card = json.loads((user_dir / "sim_ckpt_a.json").read_text())
    assert card["turing"]["study"] == "sim" and card["turing"]["votes"] == 400
    assert 0 < card["turing"]["checkpoint_cases"] <= 400
    assert json.loads((repo_dir / "sim_ckpt_b.json").read_text())["turing"] is None
    written = results.write_model_cards(store, "sim", include_repo=True)
    assert repo_dir / "sim_ckpt_b.json" in written
    assert json.loads((repo_dir / "sim_ckpt_b.json").read_text())["turing"]["accuracy"] == pytest.approx(o["accuracy"])
