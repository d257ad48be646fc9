"""The in-domain score (``medgan.domain``): ROC AUC of in-domain vs out-of-domain slices and the pass rate per set.

In domain: the embedded validation and test slices. Shifted: the test slices under each of
``medgan.data.randomise.TEST_SHIFTS`` (reported, not in the AUC: which of them pass is the finding).
Out of domain: real scans that ship in pydicom-data (CT, shoulder and abdominal MR, ultrasound, RGB), a
non-skull-stripped head MR, and noise images. Each file goes through the same normalisation as the app
(``medgan.domain.normalise``); "pass (score)" uses the image score alone, "pass (+ rules)" adds the metadata rules.

    python benchmarks/domain_roc.py [--rebuild]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

OOD_FILES = {
    "CT (CT_small)": ["CT_small.dcm"],
    "CT (693_J2KR)": ["693_J2KR.dcm"],
    "shoulder MR (MR2_J2KR)": ["MR2_J2KR.dcm"],
    "abdominal MR (MR-SIEMENS)": ["MR-SIEMENS-DICOM-WithOverlays.dcm"],
    "ultrasound (US1_J2KR)": ["US1_J2KR.dcm"],
    "RGB (SC_rgb)": ["SC_rgb.dcm"],
    "MR (MR_small)": ["MR_small.dcm"],
}
OTHER_FILES = {"head MR, not skull-stripped (emri_small, 10 frames)": ["emri_small.dcm"]}


def file_slices(names: list[str]) -> tuple[list[np.ndarray], list]:
    from pydicom.data import get_testdata_file

    from medgan import domain
    from medgan.io import read_scan

    images, scans = [], []
    for n in names:
        scan = read_scan(get_testdata_file(n))
        vol = domain.normalise(scan)
        idx = range(vol.shape[0]) if vol.shape[0] <= 16 else [vol.shape[0] // 2]
        for i in idx:
            images.append(vol[i])
            scans.append(scan)
    return images, scans


def noise_slices(n: int = 6, seed: int = 0) -> list[np.ndarray]:
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        if i % 3 == 0:
            x = rng.random((256, 256))
        elif i % 3 == 1:
            x = np.clip(0.5 + 0.2 * rng.standard_normal((256, 256)), 0, 1)
        else:
            x = ndimage.gaussian_filter(rng.standard_normal((256, 256)), 4)
            x = (x - x.min()) / (np.ptp(x) + 1e-9)
        out.append(x.astype(np.float32))
    return out


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(score of an out-of-domain slice > score of an in-domain one) (ties count half)."""
    pos, neg = np.asarray(pos)[:, None], np.asarray(neg)[None, :]
    return float((neg > pos).mean() + 0.5 * (neg == pos).mean())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rebuild", action="store_true", help="recompute the calibration (and write the bundled file)")
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore")
    from medgan import domain, domain_stats
    from medgan.data import load_brain
    from medgan.data.randomise import TEST_SHIFTS

    t0 = time.perf_counter()
    if args.rebuild:
        cal = domain_stats.build()
        cal.save(domain_stats.BUNDLED)
        domain_stats.reset()
        print(f"calibration rebuilt in {time.perf_counter() - t0:.0f} s -> {domain_stats.BUNDLED}")
    info = domain_stats.reference_info()
    print(f"threshold {info['threshold']:.2f} (Mahalanobis); calibration pass rates "
          + ", ".join(f"{k} {v:.1%}" for k, v in info["pass_rates"].items()))
    rows = []
    val, test = load_brain("val"), load_brain("test")
    s_val = domain_stats.score_many(list(val.images))
    s_test = domain_stats.score_many(list(test.images))
    rows += [("in", "embedded val", s_val, s_val), ("in", "embedded test", s_test, s_test)]
    for name, fn in TEST_SHIFTS.items():
        s = domain_stats.score_many([fn(im, lb) for im, lb in zip(test.images, test.labels)])
        rows.append(("shift", f"test, {name}", s, s))
    ood_scores = []
    for group, files in {**OOD_FILES, **OTHER_FILES}.items():
        imgs, scans = file_slices(files)
        s = domain_stats.score_many(imgs)
        full = np.array([0.0 if domain.check(im, "unet_segmentation", sc).in_domain else 2.0
                         for im, sc in zip(imgs, scans)])
        kind = "out" if group in OOD_FILES else "other"
        rows.append((kind, group, s, np.maximum(s, full)))
        if kind == "out":
            ood_scores.append(s)
    noise = domain_stats.score_many(noise_slices())
    rows.append(("out", "noise images (6)", noise, noise))
    ood_scores.append(noise)
    pos = np.concatenate([s_val, s_test])
    neg = np.concatenate(ood_scores)
    print(f"\n{'set':<52} {'n':>3} {'median score':>12} {'pass (score)':>13} {'pass (+ rules)':>15}")
    for kind, name, s, full in rows:
        print(f"{kind:>5} {name:<46} {len(s):>3} {np.median(s):>12.2f} {(s <= 1).mean():>13.0%} "
              f"{(full <= 1).mean():>15.0%}")
    print(f"\nROC AUC, embedded val+test ({len(pos)}) vs out-of-domain files and noise ({len(neg)}), image score "
          f"alone: {auc(pos, neg):.3f}")
    shifted = np.concatenate([s for k, _, s, _ in rows if k == "shift"])
    print(f"ROC AUC, shifted test slices ({len(shifted)}) vs out-of-domain: {auc(shifted, neg):.3f}")
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
