"""Turing-test analysis: pure functions over vote rows (no database, no I/O).

A vote row is a dict with at least ``reader``, ``case_key`` (``case``, the study's case id, when present), ``truth`` ("real" | "generated"), ``source``,
``vote`` ("real" | "generated"), ``confidence`` (1–5 or None), ``time_ms`` and ``timed_out``. The positive class is
"generated": sensitivity = generated cases called generated, specificity = real cases called real.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from datetime import UTC
from itertools import combinations

import numpy as np

Z95 = 1.959963984540054


def wilson_ci(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for k successes out of n (NaN, NaN when n == 0)."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def binomial_p(k: int, n: int, p: float = 0.5) -> float:
    """Two-sided exact binomial test p-value of k/n against p (scipy's definition)."""
    if n == 0:
        return math.nan
    from scipy.stats import binomtest

    return float(binomtest(k, n, p, alternative="two-sided").pvalue)


def cohen_kappa(a: list[str], b: list[str]) -> float:
    """Cohen's kappa of two raters over the same items (NaN when undefined)."""
    if len(a) != len(b) or not a:
        return math.nan
    cats = sorted(set(a) | set(b))
    n = len(a)
    po = sum(x == y for x, y in zip(a, b)) / n
    pe = sum((a.count(c) / n) * (b.count(c) / n) for c in cats)
    return math.nan if pe == 1 else (po - pe) / (1 - pe)


def fleiss_kappa(table: np.ndarray) -> float:
    """Fleiss' kappa from a count table (items, categories) with the same number of raters per item."""
    t = np.asarray(table, dtype=float)
    if t.ndim != 2 or t.shape[0] == 0:
        return math.nan
    n_raters = t.sum(axis=1)
    if not np.all(n_raters == n_raters[0]) or n_raters[0] < 2:
        return math.nan
    m = n_raters[0]
    p_j = t.sum(axis=0) / t.sum()
    p_i = ((t * t).sum(axis=1) - m) / (m * (m - 1))
    p_bar, pe = p_i.mean(), (p_j**2).sum()
    return math.nan if pe == 1 else float((p_bar - pe) / (1 - pe))


def vote_score(vote: str, confidence: int | None) -> float:
    """Ordinal 'generated' score from a vote and its confidence: generated c → +c, real c → -c (c=1 if absent)."""
    c = float(confidence) if confidence else 1.0
    return c if vote == "generated" else -c


def roc_auc(truth_generated: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """ROC (fpr, tpr) over all thresholds and AUC (Mann–Whitney, ties count one half)."""
    y = np.asarray(truth_generated, dtype=bool)
    s = np.asarray(scores, dtype=float)
    pos, neg = s[y], s[~y]
    if len(pos) == 0 or len(neg) == 0:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0]), math.nan
    thresholds = np.unique(s)[::-1]
    tpr = [0.0] + [float((pos >= t).mean()) for t in thresholds]
    fpr = [0.0] + [float((neg >= t).mean()) for t in thresholds]
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return np.array(fpr), np.array(tpr), float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def _case_of(row: dict) -> str:
    return str(row.get("case") or row["case_key"])


def per_case(rows: list[dict]) -> list[dict]:
    """Per case: readers, the fooling rate (share of readers whose vote was wrong: a generated case called real or
    a real case called generated) and the share calling it generated; most fooling first."""
    by_case: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_case[_case_of(r)].append(r)
    out = []
    for case, rr in by_case.items():
        wrong = sum(r["vote"] != r["truth"] for r in rr)
        out.append({"case": case, "truth": rr[0]["truth"], "source": rr[0]["source"], "n": len(rr),
                    "fooled": wrong / len(rr), "called_generated": sum(r["vote"] == "generated" for r in rr) / len(rr)})
    return sorted(out, key=lambda c: (-c["fooled"], c["case"]))


def _jackknife_accuracy(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x: (readers, cases) 1 = correct. Per-reader accuracy and leave-one-case-out values (readers, cases)."""
    c = x.shape[1]
    theta = x.mean(axis=1)
    return theta, (x.sum(axis=1, keepdims=True) - x) / (c - 1)


def _jackknife_auc(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """scores: (readers, cases) ordinal 'generated' scores; positive: (cases,) truth is generated. Per-reader
    Mann–Whitney AUC (ties ½) and leave-one-case-out values."""
    pos, neg = np.flatnonzero(positive), np.flatnonzero(~positive)
    n1, n0 = len(pos), len(neg)
    theta = np.empty(len(scores))
    jack = np.empty(scores.shape)
    for j, s in enumerate(scores):
        psi = (s[pos][:, None] > s[neg][None, :]) + 0.5 * (s[pos][:, None] == s[neg][None, :])
        total = psi.sum()
        theta[j] = total / (n1 * n0)
        jack[j, pos] = (total - psi.sum(axis=1)) / ((n1 - 1) * n0) if n1 > 1 else np.nan
        jack[j, neg] = (total - psi.sum(axis=0)) / (n1 * (n0 - 1)) if n0 > 1 else np.nan
    return theta, jack


def or_hillis(theta: np.ndarray, jack: np.ndarray, alpha: float = 0.05) -> dict:
    """Obuchowski–Rockette analysis of one modality with Hillis's degrees of freedom (readers and cases random).

    theta: (readers,) figure of merit per reader; jack: (readers, cases) its leave-one-case-out values. The error
    covariances come from the case jackknife: Var = mean over readers of the jackknife variance, Cov2 = mean over
    reader pairs of the jackknife covariance. With MS_R the between-reader mean square,
    SE² = (MS_R + r·max(Cov2, 0)) / r and df = (MS_R + r·max(Cov2, 0))² / (MS_R² / (r − 1)) (Hillis 2007);
    the CI is mean ± t(1 − α/2, df)·SE. One reader: the case jackknife alone (df = cases − 1).
    """
    from scipy.stats import t as student_t

    r, c = jack.shape
    mean = float(theta.mean())
    dev = jack - jack.mean(axis=1, keepdims=True)
    cov = (c - 1) / c * dev @ dev.T
    var_err = float(np.mean(np.diag(cov)))
    cov2 = float((cov.sum() - np.trace(cov)) / (r * (r - 1))) if r > 1 else math.nan
    if r > 1:
        ms_r = float(theta.var(ddof=1))
        num = ms_r + r * max(cov2, 0.0)
        se = math.sqrt(num / r)
        df = math.inf if ms_r == 0 else num**2 / (ms_r**2 / (r - 1))
    else:
        ms_r, se, df = math.nan, math.sqrt(var_err), float(c - 1)
    q = float(student_t.ppf(1 - alpha / 2, df))  # df = inf gives the normal quantile
    # accuracy and AUC live in [0, 1]: the interval is truncated there
    return {"estimate": mean, "se": se, "df": df, "ci_low": max(0.0, mean - q * se), "ci_high": min(1.0, mean + q * se),
            "ms_r": ms_r, "var_error": var_err, "cov2": cov2,
            "var_reader": (ms_r - var_err + cov2) if r > 1 else math.nan, "readers": r, "cases": c}


def crossed(rows: list[dict]) -> tuple[list[str], list[str], dict[tuple[str, str], dict]]:
    """Readers and cases of the fully crossed part of the data (cases every reader answered)."""
    cell = {(r["reader"], _case_of(r)): r for r in rows}
    readers = sorted({k[0] for k in cell})
    cases = sorted({k[1] for k in cell})
    cases = [c for c in cases if all((rd, c) in cell for rd in readers)]
    return readers, cases, cell


def mrmc(rows: list[dict], alpha: float = 0.05) -> dict:
    """MRMC analysis (OR–Hillis) of accuracy and of the AUC from confidence-weighted votes over the fully crossed
    readers × cases (readers who have not answered every case of the others are still counted: only cases every
    reader answered enter). Empty dicts when fewer than 3 cases are crossed."""
    readers, cases, cell = crossed(rows)
    out: dict = {"readers": len(readers), "cases": len(cases), "accuracy": {}, "auc": {}}
    if len(cases) < 3 or not readers:
        return out
    x = np.array([[cell[(rd, c)]["vote"] == cell[(rd, c)]["truth"] for c in cases] for rd in readers], dtype=float)
    out["accuracy"] = or_hillis(*_jackknife_accuracy(x), alpha=alpha)
    positive = np.array([cell[(readers[0], c)]["truth"] == "generated" for c in cases])
    if 2 <= positive.sum() <= len(cases) - 2:
        scores = np.array([[vote_score(cell[(rd, c)]["vote"], cell[(rd, c)].get("confidence")) for c in cases]
                           for rd in readers])
        out["auc"] = or_hillis(*_jackknife_auc(scores, positive), alpha=alpha)
    return out


def _rates(rows: list[dict]) -> dict:
    n = len(rows)
    k = sum(r["vote"] == r["truth"] for r in rows)
    gen = [r for r in rows if r["truth"] == "generated"]
    real = [r for r in rows if r["truth"] == "real"]
    tp = sum(r["vote"] == "generated" for r in gen)
    tn = sum(r["vote"] == "real" for r in real)
    lo, hi = wilson_ci(k, n)
    times = [r["time_ms"] for r in rows if r.get("time_ms") is not None]
    return {
        "n": n, "correct": k, "accuracy": k / n if n else math.nan, "ci_low": lo, "ci_high": hi,
        "sensitivity": tp / len(gen) if gen else math.nan,
        "specificity": tn / len(real) if real else math.nan,
        "p_value": binomial_p(k, n),
        "median_time_s": float(np.median(times)) / 1000 if times else math.nan,
    }


def summarize(rows: list[dict]) -> dict:
    """All study statistics from scored vote rows (practice rows and timed-out votes are left out)."""
    scored = [r for r in rows if not r.get("practice") and not r.get("timed_out")]
    overall = _rates(scored)
    overall["n_timed_out"] = sum(bool(r.get("timed_out")) for r in rows if not r.get("practice"))
    by_reader: dict[str, list[dict]] = defaultdict(list)
    for r in scored:
        by_reader[r["reader"]].append(r)
    readers = sorted(by_reader)
    per_reader = [{"reader": name, **_rates(by_reader[name])} for name in readers]
    for entry, name in zip(per_reader, readers):
        rr = by_reader[name]
        _, _, entry["auc"] = roc_auc(np.array([r["truth"] == "generated" for r in rr]),
                                     np.array([vote_score(r["vote"], r.get("confidence")) for r in rr]))
    by_source: dict[str, list[dict]] = defaultdict(list)
    for r in scored:
        by_source[r["source"]].append(r)
    per_source = []
    for name in sorted(by_source):
        rr = by_source[name]
        truth = rr[0]["truth"]
        k = sum(r["vote"] == r["truth"] for r in rr)
        lo, hi = wilson_ci(k, len(rr))
        per_source.append({"source": name, "truth": truth, "n": len(rr), "correct": k,
                           "accuracy": k / len(rr), "ci_low": lo, "ci_high": hi,
                           "called_generated": sum(r["vote"] == "generated" for r in rr) / len(rr),
                           "p_value": binomial_p(k, len(rr))})
    # agreement: matrix of votes for cases every pair / every reader saw
    votes_by_case: dict[str, dict[str, str]] = defaultdict(dict)
    for r in scored:
        votes_by_case[r["case_key"]][r["reader"]] = r["vote"]
    pairs = []
    for a, b in combinations(readers, 2):
        shared = [c for c, v in votes_by_case.items() if a in v and b in v]
        pairs.append({"reader_a": a, "reader_b": b, "n": len(shared),
                      "kappa": cohen_kappa([votes_by_case[c][a] for c in shared],
                                           [votes_by_case[c][b] for c in shared])})
    full = [v for v in votes_by_case.values() if len(readers) >= 2 and all(x in v for x in readers)]
    table = np.array([[sum(x == "real" for x in v.values()), sum(x == "generated" for x in v.values())]
                      for v in full]) if full else np.zeros((0, 2))
    fpr, tpr, auc = roc_auc(np.array([r["truth"] == "generated" for r in scored]),
                            np.array([vote_score(r["vote"], r.get("confidence")) for r in scored]))
    return {"overall": overall, "auc": auc, "roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist()},
            "per_reader": per_reader, "per_source": per_source, "kappa_pairs": pairs,
            "fleiss_kappa": fleiss_kappa(table), "fleiss_n_cases": len(full), "n_readers": len(readers),
            "per_case": per_case(scored), "mrmc": mrmc(scored)}


VOTE_CSV_FIELDS = ("case", "reader", "truth", "source", "vote", "confidence", "time_ms", "timed_out", "practice",
                   "voted_at", "changed_at", "case_token")


def _iso(t: float | None) -> str:
    if t is None:
        return ""
    from datetime import datetime

    return datetime.fromtimestamp(float(t), tz=UTC).isoformat(timespec="milliseconds")


def votes_csv(rows: list[dict]) -> str:
    """CSV of every vote: case (the study's case id, the same for every reader), reader, truth, source (checkpoint
    or real set), vote, confidence, server-measured time, flags, UTC times, and the reader's own case token."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=VOTE_CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({**{k: r.get(k) for k in VOTE_CSV_FIELDS}, "case": _case_of(r),
                    "voted_at": _iso(r.get("created_at")), "changed_at": _iso(r.get("updated_at"))})
    return buf.getvalue()


def summary_csv(summary: dict) -> str:
    """CSV of the summary: one row overall, one per reader, one per source."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    cols = ["n", "correct", "accuracy", "ci_low", "ci_high", "sensitivity", "specificity", "p_value",
            "median_time_s", "auc"]
    w.writerow(["scope", "name"] + cols)
    w.writerow(["overall", "all"] + [summary["overall"].get(c, summary["auc"] if c == "auc" else "") for c in cols])
    for r in summary["per_reader"]:
        w.writerow(["reader", r["reader"]] + [r.get(c, "") for c in cols])
    for r in summary["per_source"]:
        w.writerow(["source", r["source"]] + [r.get(c, "") for c in cols])
    for fom in ("accuracy", "auc"):
        m = summary.get("mrmc", {}).get(fom)
        if m:
            w.writerow(["mrmc_or_hillis", fom, m["readers"] * m["cases"], "", m["estimate"], m["ci_low"],
                        m["ci_high"], "", "", "", "", ""])
    for c in summary.get("per_case", []):
        w.writerow(["case", c["case"], c["n"], "", 1 - c["fooled"], "", "", "", "", "", "", ""])
    w.writerow(["agreement", "fleiss_kappa", summary["fleiss_kappa"]])
    for p in summary["kappa_pairs"]:
        w.writerow(["agreement", f"cohen_kappa {p['reader_a']}-{p['reader_b']}", p["kappa"]])
    return buf.getvalue()


def card_entry(summary: dict, source: str, study_name: str) -> dict:
    """The model-card ``turing`` entry for one checkpoint (its own detection rate plus the study overall)."""
    mine = next((s for s in summary["per_source"] if s["source"] == source), None)
    o = summary["overall"]
    return {"study": study_name, "readers": summary["n_readers"], "votes": o["n"],
            "accuracy": o["accuracy"], "accuracy_ci95": [o["ci_low"], o["ci_high"]],
            "sensitivity": o["sensitivity"], "specificity": o["specificity"], "p_value": o["p_value"],
            "auc": summary["auc"], "fleiss_kappa": summary["fleiss_kappa"],
            "accuracy_mrmc_ci95": ([summary["mrmc"]["accuracy"]["ci_low"], summary["mrmc"]["accuracy"]["ci_high"]]
                                   if summary.get("mrmc", {}).get("accuracy") else None),
            "checkpoint_cases": mine["n"] if mine else 0,
            "checkpoint_detected": mine["called_generated"] if mine else None}
