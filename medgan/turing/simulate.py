"""Simulated reader studies with a known truth, for checking the MRMC analysis (and for planning a study).

Model: reader j's chance of answering case k correctly is ``expit(mu + a_j + b_k)`` with reader effects
``a_j ~ N(0, reader_sd²)`` and case effects ``b_k ~ N(0, case_sd²)`` (logit scale); the confidence is 1–5, higher
when the reader is more likely right. The population accuracy (the estimand: expected accuracy of a new reader on
a new case) is ``E[expit(mu + a + b)]``, computed by Gauss–Hermite quadrature.
"""

from __future__ import annotations

import sys

import numpy as np
from scipy.special import expit


def population_accuracy(mu: float, reader_sd: float, case_sd: float) -> float:
    """E[expit(mu + a + b)] with a ~ N(0, reader_sd²), b ~ N(0, case_sd²) (a + b ~ N(0, reader_sd² + case_sd²))."""
    x, w = np.polynomial.hermite_e.hermegauss(80)
    sd = float(np.hypot(reader_sd, case_sd))
    return float((w * expit(mu + sd * x)).sum() / w.sum())


def simulate_rows(n_readers: int, n_cases: int, mu: float, reader_sd: float, case_sd: float,
                  rng: np.random.Generator) -> list[dict]:
    """Vote rows (as :func:`medgan.turing.analysis.summarize` reads them) of one fully crossed 50/50 study."""
    a = rng.normal(0.0, reader_sd, n_readers)
    b = rng.normal(0.0, case_sd, n_cases)
    p = expit(mu + a[:, None] + b[None, :])
    correct = rng.random(p.shape) < p
    truth = np.array(["real", "generated"])[np.arange(n_cases) % 2]
    conf = np.clip(np.round(1 + 4 * np.abs(p - 0.5) * 2 + rng.normal(0, 0.7, p.shape)), 1, 5).astype(int)
    rows = []
    for j in range(n_readers):
        for k in range(n_cases):
            t = str(truth[k])
            vote = t if correct[j, k] else ("real" if t == "generated" else "generated")
            rows.append({"reader": f"R{j + 1:02d}", "case": f"C{k + 1:03d}", "case_key": f"C{k + 1:03d}",
                         "truth": t, "source": "real-set" if t == "real" else "sim_gan", "vote": vote,
                         "confidence": int(conf[j, k]), "time_ms": 3000, "timed_out": False, "practice": False})
    return rows


def coverage(n_studies: int, n_readers: int, n_cases: int, mu: float, reader_sd: float, case_sd: float,
             seed: int = 0) -> dict:
    """Share of simulated studies whose 95 % CI holds the population accuracy: OR–Hillis vs pooled Wilson."""
    from medgan.turing.analysis import _jackknife_accuracy, or_hillis, wilson_ci

    rng = np.random.default_rng(seed)
    truth = population_accuracy(mu, reader_sd, case_sd)
    hit_or = hit_w = 0
    width_or, width_w = [], []
    for _ in range(n_studies):
        a = rng.normal(0.0, reader_sd, n_readers)
        b = rng.normal(0.0, case_sd, n_cases)
        x = (rng.random((n_readers, n_cases)) < expit(mu + a[:, None] + b[None, :])).astype(float)
        o = or_hillis(*_jackknife_accuracy(x))
        lo, hi = wilson_ci(int(x.sum()), x.size)
        hit_or += o["ci_low"] <= truth <= o["ci_high"]
        hit_w += lo <= truth <= hi
        width_or.append(o["ci_high"] - o["ci_low"])
        width_w.append(hi - lo)
    return {"population_accuracy": truth, "studies": n_studies, "or_hillis_coverage": hit_or / n_studies,
            "wilson_coverage": hit_w / n_studies, "or_hillis_mean_width": float(np.mean(width_or)),
            "wilson_mean_width": float(np.mean(width_w))}


def main(argv: list[str] | None = None) -> int:
    """``python -m medgan.turing.simulate``: one simulated study's analysis, then CI coverage over many."""
    import argparse

    from medgan.turing.analysis import summarize

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--readers", type=int, default=4)
    p.add_argument("--cases", type=int, default=100)
    p.add_argument("--mu", type=float, default=0.45, help="logit of a typical reader's accuracy on a typical case")
    p.add_argument("--reader-sd", type=float, default=0.3)
    p.add_argument("--case-sd", type=float, default=1.0)
    p.add_argument("--studies", type=int, default=2000, help="simulated studies for the coverage")
    p.add_argument("--seed", type=int, default=2023)
    a = p.parse_args(argv)

    def out(line: str) -> None:  # the command's report goes to stdout
        sys.stdout.write(line + "\n")

    rows = simulate_rows(a.readers, a.cases, a.mu, a.reader_sd, a.case_sd, np.random.default_rng(a.seed))
    s = summarize(rows)
    o, m = s["overall"], s["mrmc"]["accuracy"]
    out(f"population accuracy {population_accuracy(a.mu, a.reader_sd, a.case_sd):.3f}")
    out(f"one study, {a.readers} readers x {a.cases} cases: accuracy {o['accuracy']:.3f}")
    out(f"  OR-Hillis 95% CI [{m['ci_low']:.3f}, {m['ci_high']:.3f}] (±{(m['ci_high'] - m['ci_low']) / 2:.3f}, "
          f"df {m['df']:.1f}); pooled Wilson [{o['ci_low']:.3f}, {o['ci_high']:.3f}] "
          f"(±{(o['ci_high'] - o['ci_low']) / 2:.3f})")
    out("  per-reader accuracy " + ", ".join(f"{r['reader']} {r['accuracy']:.2f}" for r in s["per_reader"]))
    c = coverage(a.studies, a.readers, a.cases, a.mu, a.reader_sd, a.case_sd, seed=a.seed + 1)
    out(f"coverage over {c['studies']} studies: OR-Hillis {c['or_hillis_coverage']:.3f} "
          f"(mean width {c['or_hillis_mean_width']:.3f}), pooled Wilson {c['wilson_coverage']:.3f} "
          f"(mean width {c['wilson_mean_width']:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
