"""The quality protocol: every conditional model beside classical baselines on the same inputs.

Inputs are the embedded brain's held-out test slices (clean, and under the fixed shifts of
:data:`medgan.data.randomise.TEST_SHIFTS`, the T2-like remap among them, which no model trained on), and real
DICOM slices that ship in ``pydicom-data`` (CT and MR of other anatomy). Every model runs through the public task
functions (:mod:`medgan.tasks`), i.e. exactly what the Studio and the API run. Nothing hidden is used: blind
inpainting gets no labels; "oracle labels" rows (labels of the dataset, made from the hidden pixels) are reported
separately and marked as such. Each row is ``(task, condition, method, metrics)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from medgan.data import load_brain
from medgan.data.corruptions import box_hole, degrade, downsample, square_hole, stroke_hole
from medgan.data.randomise import TEST_SHIFTS
from medgan.evaluation import baselines as B
from medgan.metrics.image import finite_psnr, psnr, ssim
from medgan.metrics.segmentation import dice_per_class
from medgan.tasks import enhance, inpaint, segment_many, synthesize

logger = logging.getLogger(__name__)

HOLES: tuple[str, ...] = ("50×50", "80×80", "free-form")
# The embedded template is exactly left-right symmetric, so a hole's mirror image holds its answer; this hole hides
# both, which a model cannot solve by copying across the midline (a real brain is only roughly symmetric).
MIRROR_HOLE = "50×50 + its mirror"
REAL_SCANS: dict[str, tuple[str, int]] = {  # pydicom-data file → frame
    "CT chest 128 (CT_small)": ("CT_small.dcm", 0),
    "CT head 512 (693_J2KR)": ("693_J2KR.dcm", 0),
    "MR 64 (MR_small)": ("MR_small.dcm", 0),
    "MR head 64 (emri_small)": ("emri_small.dcm", 5),
    "MR shoulder 1024 (MR2_J2KR)": ("MR2_J2KR.dcm", 0),
    "MR abdomen 484 (Siemens)": ("MR-SIEMENS-DICOM-WithOverlays.dcm", 0),
}


@dataclass
class Row:
    task: str
    condition: str
    method: str
    metrics: dict[str, float] = field(default_factory=dict)


def real_slices(names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Real slices from pydicom-data, windowed to [0, 1] the way the Studio windows them (CT: soft-tissue preset;
    MR: 0.5–99.5 percentiles); larger than 256 px resampled to 256 on the long side."""
    from medgan.data.extra_scans import windowed_frames
    from medgan.io import resize_image

    out = {}
    for name in names or REAL_SCANS:
        fname, frame = REAL_SCANS[name]
        frames = windowed_frames(fname)
        if not len(frames):
            continue
        img = frames[min(frame, len(frames) - 1)]
        h, w = img.shape
        if max(h, w) > 256:
            img = resize_image(img, (round(h * 256 / max(h, w)), round(w * 256 / max(h, w))))
        out[name] = np.clip(img, 0, 1).astype(np.float32)
    return out


def test_set(max_slices: int = 0) -> tuple[np.ndarray, np.ndarray]:
    b = load_brain("test")
    n = max_slices or len(b.images)
    return b.images[:n], b.labels[:n]


def train_check_set(n: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """``n`` training slices with labelled tissue, evenly spaced through the volume: the same measurements on
    slices the models were trained on tell a generalisation gap (test ≪ train) from a model's own limit."""
    b = load_brain("train")
    tissue = np.flatnonzero([(lb > 0).any() for lb in b.labels])
    pick = tissue[np.linspace(0, len(tissue) - 1, min(n, len(tissue))).round().astype(int)]
    return b.images[pick], b.labels[pick]


def mirror_columns(img: np.ndarray, max_shift: int = 20) -> np.ndarray:
    """For each column, the column it mirrors about the image's left-right symmetry axis: the flip of the slice,
    shifted by the whole number of columns (≤ ``max_shift``) that best matches the slice."""
    w = img.shape[1]
    flipped = img[:, ::-1]
    shift = min(range(-max_shift, max_shift + 1),
                key=lambda s: float(np.abs(np.roll(flipped, s, axis=1) - img).mean()))
    return np.clip(w - 1 - np.arange(w) + shift, 0, w - 1)


def make_hole(kind: str, img: np.ndarray, lab: np.ndarray | None, seed: int) -> np.ndarray:
    """A hole (bool (H, W), True = missing) inside the tissue: 50×50 or 80×80 squares (at 256 px, scaled),
    free-form strokes, or the 50×50 square together with its mirror image (:data:`MIRROR_HOLE`); seeded by
    ``seed``."""
    if kind == MIRROR_HOLE:
        m = make_hole("50×50", img, lab, seed)
        return m | m[:, mirror_columns(img)]
    rng = np.random.default_rng([seed, 31])
    within = lab > 0 if lab is not None else ndimage.binary_erosion(img > 0.1, iterations=3)
    if kind == "50×50":
        return square_hole(img.shape, rng, within=within)
    if kind == "80×80":
        return box_hole(img.shape, rng, 80, within, min_side=80)
    if kind == "free-form":  # strokes that cross the tissue (redrawn, up to 10 times, when they miss it)
        for _ in range(10):
            m = stroke_hole(img.shape, rng=rng)
            if (m & within).any():
                return m & ndimage.binary_dilation(within, iterations=5)
        return m
    raise ValueError(f"unknown hole {kind!r}; valid: {', '.join((*HOLES, MIRROR_HOLE))}")


def label_of(model: object) -> str:
    """A model's name in the tables: a checkpoint name, or a loaded model's card name."""
    return model if isinstance(model, str) else str(model.card.name)  # type: ignore[attr-defined]


def _fill_metrics(out: np.ndarray, ref: np.ndarray, m: np.ndarray) -> dict[str, float]:
    sd_ref = float(ref[m].std())
    return {"hole_psnr": float(finite_psnr(psnr(out, ref, mask=m))), "hole_ssim": float(ssim(out, ref, mask=m)),
            "psnr": float(finite_psnr(psnr(out, ref))), "std_ratio": float(out[m].std()) / max(sd_ref, 1e-6)}


def _mean(dicts: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([d[k] for d in dicts])) for k in dicts[0]} if dicts else {}


def inpainting_rows(models: list, images: list[np.ndarray], labels: list[np.ndarray | None], condition: str,
                    holes: Iterable[str] = HOLES, telea: bool = True) -> list[Row]:
    """Blind inpainting (no labels) of each image, per hole kind: every model vs biharmonic (and Telea)."""
    rows = []
    methods: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {"biharmonic": B.inpaint_biharmonic}
    if telea:
        methods["telea"] = B.inpaint_telea
    for name in models:
        methods[label_of(name)] = lambda im, m, n=name: inpaint(im, m, n).output
    for kind in holes:
        masks = [make_hole(kind, im, lb, seed=i) for i, (im, lb) in enumerate(zip(images, labels))]
        for method, fn in methods.items():
            per = [_fill_metrics(fn(im, m), im, m) for im, m in zip(images, masks)]
            rows.append(Row("inpainting", f"{condition}, {kind} hole, no labels", method, _mean(per)))
    return rows


def oracle_inpainting_rows(models: list, images: np.ndarray, labels: np.ndarray, segmenter: str) -> list[Row]:
    """Label-guided inpainting with the dataset's labels (ORACLE: they are made from the hidden pixels; stands for
    labels a user draws): hole metrics, and the segmenter's labels in the hole vs the given labels (Dice)."""
    rows = []
    for name in models:
        per, preds, refs = [], [], []
        for i, (im, lb) in enumerate(zip(images, labels)):
            m = make_hole("50×50", im, lb, seed=i)
            out = inpaint(im, m, name, labels=lb).output
            per.append(_fill_metrics(out, im, m))
            preds.append(np.where(m, segment_many([out], segmenter)[0], 0))
            refs.append(np.where(m, lb, 0))
        d = dice_per_class(np.stack(preds), np.stack(refs), 4)
        rows.append(Row("inpainting", "ORACLE labels (dataset's), 50×50 hole", label_of(name),
                        {**_mean(per), "hole_dice": float(d.mean())}))
    return rows


def _laplacian(img: np.ndarray, mask: np.ndarray) -> float:
    return float(np.abs(ndimage.laplace(img.astype(np.float32)))[mask].mean())


def synthesis_rows(models: list, images: np.ndarray, labels: np.ndarray, features: Callable | None = None
                   ) -> list[Row]:
    """Synthesis from the test label maps: models vs mean-intensity painting vs the nearest training slice:
    SSIM/PSNR vs the real slice, |Laplacian| inside the brain relative to the real slices', FD-medgan to the real
    test slices (``features``: an image-batch → feature extractor)."""
    from medgan.metrics import frechet_distance

    train = load_brain("train")
    means = B.class_means(train.images, train.labels, 4)
    methods: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "mean-intensity painting": lambda lb: B.paint_mean_intensity(lb, means),
        "nearest training slice": lambda lb: B.nearest_training_slice(lb, train.images, train.labels)}
    for name in models:
        methods[label_of(name)] = lambda lb, n=name: synthesize(lb, n).output
    real_lap = np.mean([_laplacian(im, lb > 0) for im, lb in zip(images, labels)])
    real_feats = features(images) if features else None
    rows = []
    for method, fn in methods.items():
        outs = np.stack([fn(lb) for lb in labels])
        met = {"ssim": float(ssim(outs, images).mean()), "psnr": float(finite_psnr(psnr(outs, images)).mean()),
               "laplacian_ratio": float(np.mean([_laplacian(o, lb > 0) for o, lb in zip(outs, labels)]) / real_lap)}
        if features is not None:
            met["fd_medgan"] = float(frechet_distance(real_feats, features(outs)))
        rows.append(Row("synthesis", "test labels", method, met))
    return rows


def segmentation_rows(models: list, images: np.ndarray, labels: np.ndarray) -> list[Row]:
    """Mean Dice CSF/GM/WM vs the dataset's labels, clean and under each test shift."""
    rows = []
    shifts: dict[str, Callable] = {"clean": lambda im, lb: im, **TEST_SHIFTS}
    for name in models:
        for cond, f in shifts.items():
            preds = segment_many([f(im, lb) for im, lb in zip(images, labels)], name)
            d = dice_per_class(np.stack(preds), labels, 4)
            rows.append(Row("segmentation", cond, label_of(name), {"dice": float(d.mean()),
                                                                   **{f"dice_{c + 1}": float(d[c]) for c in range(3)}}))
    return rows


def enhancement_rows(models: dict, images: list[np.ndarray], condition: str,
                     image_names: list[str] | None = None) -> list[Row]:
    """Denoise / ×4 SR / deblur (``models``: degradation → checkpoint name, or a list of names to compare) vs
    the degraded input and classical methods, PSNR/SSIM vs the clean image. With ``image_names``, one row per
    image as well as the mean (a model must not harm any single scan)."""
    rows = []
    for kind, names in models.items():
        names = [names] if isinstance(names, str) else list(names)
        base = {"denoise": B.DENOISE_BASELINES, "deblur": B.DEBLUR_BASELINES}.get(kind, {})
        per: dict[str, list[dict[str, float]]] = {}
        for i, clean in enumerate(images):
            deg = degrade(clean, kind, rng=np.random.default_rng(i))
            outs = {"degraded input": deg}
            outs.update({label_of(n): enhance(deg, n, kind, degrade=False).output for n in names})
            if kind == "sr4":
                low = downsample(clean)
                outs.update({k: f(low, clean.shape) for k, f in B.SR_BASELINES.items()})
                outs.pop("degraded input")
            outs.update({k: f(deg) for k, f in base.items()})
            for k, o in outs.items():
                per.setdefault(k, []).append({"psnr": float(finite_psnr(psnr(o, clean))), "ssim": float(ssim(o, clean))})
        rows += [Row("enhancement", f"{condition}, {kind}", k, _mean(v)) for k, v in per.items()]
        for i, image_name in enumerate(image_names or []):
            rows += [Row("enhancement", f"{condition}: {image_name}, {kind}", k, v[i]) for k, v in per.items()]
    return rows


BASELINE_METHODS: frozenset[str] = frozenset({"biharmonic", "telea", "mean-intensity painting",
                                              "nearest training slice", "degraded input", *B.DENOISE_BASELINES,
                                              *B.DEBLUR_BASELINES, *B.SR_BASELINES})


def card_quality(rows: list[Row], model: str, command: str) -> dict:
    """The card's ``quality`` entry for ``model``: its rows and the baselines' rows of the same conditions."""
    conds = [r.condition for r in rows if r.method == model]
    keep = [r for r in rows if r.condition in conds and (r.method == model or r.method in BASELINE_METHODS)]
    return {"command": command, "rows": [{"condition": r.condition, "method": r.method,
                                          **{k: round(v, 4) for k, v in r.metrics.items()}} for r in keep]}


def format_rows(rows: list[Row]) -> str:
    """A plain-text table, one line per row."""
    keys = sorted({k for r in rows for k in r.metrics}, key=lambda k: (k not in ("hole_psnr", "dice", "psnr"), k))
    head = ["task", "condition", "method", *keys]
    lines = [[r.task, r.condition, r.method, *[f"{r.metrics[k]:.4g}" if k in r.metrics else "" for k in keys]]
             for r in rows]
    widths = [max(len(str(x[i])) for x in [head, *lines]) for i in range(len(head))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(x, widths)).rstrip()
                     for x in [head, ["-" * w for w in widths], *lines])
