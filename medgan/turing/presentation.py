"""Matched presentation of Turing-test cases and the check that no simple image statistic gives the truth away.

Every case, real or generated, goes through :func:`present_pixels`: the fixed intensity window [0, 1] (real slices
are already windowed into it, generator outputs are mapped from tanh), resampling to the generator's native size
(antialiased Lanczos; a no-op for generated images), quantisation to 8 bits at that size, then resampling to the
display size with the same Lanczos filter. A real 256 px slice shown beside a 64 px generator output therefore
carries no more detail than the generator could produce.

:func:`separability_check` then asks whether a one-feature classifier (cross-validated logistic regression, AUC)
separates the rendered real from the rendered generated cases by sharpness (mean |Laplacian|), intensity
histogram, noise level or PNG file size.
"""

from __future__ import annotations

import io
import logging
import math

import numpy as np

logger = logging.getLogger(__name__)
SEPARABLE_AUC = 0.75
FEATURES = ("sharpness", "mean", "std", "dark_fraction", "entropy", "noise", "png_bytes")
FEATURE_LABELS = {
    "sharpness": "sharpness (mean |Laplacian|)", "mean": "mean intensity", "std": "intensity spread (std)",
    "dark_fraction": "dark-pixel fraction", "entropy": "histogram entropy", "noise": "noise level",
    "png_bytes": "PNG file size",
}


def _square_unit(image: np.ndarray) -> np.ndarray:
    arr = np.squeeze(np.asarray(image, dtype=np.float32))
    if arr.ndim != 2:
        raise ValueError(f"a case image must be 2-D (H, W); got shape {np.shape(image)}")
    if arr.shape[0] < 8 or arr.shape[1] < 8:
        raise ValueError(f"a case image must be at least 8×8 pixels; got {arr.shape}")
    arr = np.clip(np.nan_to_num(arr, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    h, w = arr.shape
    if h != w:
        side = max(h, w)
        sq = np.zeros((side, side), dtype=np.float32)
        sq[(side - h) // 2 : (side - h) // 2 + h, (side - w) // 2 : (side - w) // 2 + w] = arr
        arr = sq
    return arr


def _resize(arr: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    if arr.shape[0] == size:
        return arr
    out = Image.fromarray(arr.astype(np.float32), mode="F").resize((size, size), Image.Resampling.LANCZOS)
    return np.clip(np.asarray(out, dtype=np.float32), 0.0, 1.0)


def present_pixels(image: np.ndarray, native_size: int, size: int = 256) -> np.ndarray:
    """float (H, W) in [0, 1] → uint8 (size, size) through the matched pipeline (window [0, 1], Lanczos to
    ``native_size``, 8-bit quantisation, Lanczos to ``size``)."""
    arr = _square_unit(image)
    native = _resize(arr, int(native_size))
    native = np.round(native * 255.0) / 255.0
    return np.round(_resize(native.astype(np.float32), int(size)) * 255.0).astype(np.uint8)


_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)  # fast noise estimate (Immerkær 1996)


def image_features(pixels: np.ndarray) -> dict[str, float]:
    """Simple statistics of one rendered case (uint8 (H, W))."""
    from PIL import Image
    from scipy import ndimage

    px = np.asarray(pixels, dtype=np.uint8)
    x = px.astype(np.float64) / 255.0
    hist = np.bincount(px.ravel(), minlength=256).astype(np.float64)
    p = hist[hist > 0] / hist.sum()
    buf = io.BytesIO()
    Image.fromarray(px, mode="L").save(buf, format="PNG", optimize=True)
    return {
        "sharpness": float(np.abs(ndimage.laplace(x)).mean()),
        "mean": float(x.mean()),
        "std": float(x.std()),
        "dark_fraction": float((px < 13).mean()),
        "entropy": float(-(p * np.log2(p)).sum()),
        "noise": float(math.sqrt(math.pi / 2) * np.abs(ndimage.convolve(x, _IMMERKAER)[1:-1, 1:-1]).mean() / 6),
        "png_bytes": float(len(buf.getvalue())),
    }


def _cv_auc(x: np.ndarray, y: np.ndarray, seed: int = 0) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folds = int(min(5, np.bincount(y).min()))
    model = make_pipeline(StandardScaler(), LogisticRegression())
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    proba = cross_val_predict(model, x, y, cv=cv, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, proba))


def separability_check(real: list[np.ndarray], generated: list[np.ndarray], threshold: float = SEPARABLE_AUC) -> dict:
    """Cross-validated AUC of one-feature classifiers (and of all features together) for rendered real vs
    generated cases. ``fired`` names the features with AUC > ``threshold``; ``None`` AUCs when a group has fewer
    than 2 cases (the check is then skipped)."""
    out = {"threshold": threshold, "auc": {}, "all_features_auc": None, "fired": [], "skipped": None}
    if len(real) < 2 or len(generated) < 2:
        out["skipped"] = "fewer than 2 real or 2 generated cases"
        return out
    feats = [image_features(p) for p in list(real) + list(generated)]
    x = np.array([[f[k] for k in FEATURES] for f in feats])
    y = np.array([0] * len(real) + [1] * len(generated))
    for j, name in enumerate(FEATURES):
        col = x[:, j : j + 1]
        auc = 0.5 if np.ptp(col) == 0 else _cv_auc(col, y)
        out["auc"][name] = round(auc, 4)
        if auc > threshold:
            out["fired"].append(name)
    keep = np.ptp(x, axis=0) > 0
    out["all_features_auc"] = round(_cv_auc(x[:, keep], y), 4) if keep.any() else 0.5
    return out


def check_message(check: dict) -> str:
    """One line for the admin: which statistic separates real from generated (or that none does)."""
    if check.get("skipped"):
        return f"Presentation check skipped: {check['skipped']}."
    if not check["fired"]:
        best = max(check["auc"].items(), key=lambda kv: kv[1]) if check["auc"] else ("-", math.nan)
        return (f"Presentation check passed: no single image statistic separates real from generated "
                f"(highest cross-validated AUC {best[1]:.2f}, {FEATURE_LABELS.get(best[0], best[0])}).")
    named = ", ".join(f"{FEATURE_LABELS[f]} (AUC {check['auc'][f]:.2f})" for f in check["fired"])
    verb = "separates" if len(check["fired"]) == 1 else "separate"
    return (f"Presentation check: {named} {verb} real from generated cases above AUC "
            f"{check['threshold']:.2f}; readers could answer from that statistic alone.")
