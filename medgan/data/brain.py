"""The embedded brain dataset: the MNI152 2009c T1 template shipped inside ``nilearn``, as 256×256 axial slices
with a 4-class label map (0 background, 1 CSF, 2 grey matter, 3 white matter).

Labels: inside nilearn's MNI152 brain mask, each voxel takes the most probable of CSF / GM / WM, where GM and WM
are the template's tissue probability maps and CSF = 1 - GM - WM (clipped). Slices are split into train / val /
test by contiguous slabs of ``SLAB`` slices (slab order shuffled with seed 42, 70/15/15); a train slice that
touches a val/test slice is dropped so no held-out slice sits next to a training slice.
The result is cached as a compressed ``.npz`` under ``MEDGAN_HOME/cache`` after the first build (about 1 s).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medgan.atomic import atomic_write_file
from medgan.io.scan import Scan
from medgan.paths import medgan_home

logger = logging.getLogger(__name__)

CLASS_NAMES: tuple[str, ...] = ("background", "CSF", "grey matter", "white matter")
NUM_CLASSES = len(CLASS_NAMES)
SIZE = 256
SLAB = 10
SPLIT_SEED = 42
SPLIT_FRACTIONS = (0.70, 0.15, 0.15)
MIN_BRAIN_PIXELS = 1500
CACHE_VERSION = 1
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class BrainSlices:
    """images: float32 (N, 256, 256) in [0, 1]; labels: uint8 (N, 256, 256) in {0..3};
    slice_index: int (N,) axial index in the template volume; split: name of the split."""

    images: np.ndarray
    labels: np.ndarray
    slice_index: np.ndarray
    split: str

    def __len__(self) -> int:
        return int(self.images.shape[0])


@dataclass(frozen=True)
class BrainVolume:
    """The whole template as axial slices: volume float32 (Z, 256, 256) in [0, 1], labels uint8 (Z, 256, 256),
    affine 4×4 (voxel (x, y, z) of the padded slice grid → MNI mm, RAS), split per slice ("train", "val",
    "test", or "none" for near-empty and guard slices)."""

    volume: np.ndarray
    labels: np.ndarray
    affine: np.ndarray
    split: np.ndarray


def _cache_path() -> Path:
    return medgan_home() / "cache" / f"mni152_brain_v{CACHE_VERSION}.npz"


def _to_slices(vol: np.ndarray) -> np.ndarray:
    """(X, Y, Z) RAS array → (Z, 256, 256) axial slices, anterior up, patient right on image right (neurological,
    the same layout the NIfTI reader uses)."""
    x, y, z = vol.shape
    out = np.zeros((z, SIZE, SIZE), dtype=vol.dtype)
    py, px = (SIZE - y) // 2, (SIZE - x) // 2
    # slice k: rows = y reversed (anterior at top), columns = x (patient right on image right)
    out[:, py : py + y, px : px + x] = np.transpose(vol, (2, 1, 0))[:, ::-1, :]
    return out


def _slice_affine(src_affine: np.ndarray, shape_xyz: tuple[int, int, int]) -> np.ndarray:
    """Affine of the padded slice grid (column c, row r, slice k) → world mm."""
    x, y, _ = shape_xyz
    py, px = (SIZE - y) // 2, (SIZE - x) // 2
    # voxel index in source: i = c - px, j = (y - 1) - (r - py), k = k
    m = np.array([[1, 0, 0, -px], [0, -1, 0, (y - 1) + py], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=float)
    return src_affine @ m


def _assign_splits(valid: np.ndarray) -> np.ndarray:
    z = valid.shape[0]
    split = np.array(["none"] * z, dtype=object)
    idx = np.flatnonzero(valid)
    slabs = [idx[i : i + SLAB] for i in range(0, len(idx), SLAB)]
    order = np.random.default_rng(SPLIT_SEED).permutation(len(slabs))
    n_val = max(1, round(SPLIT_FRACTIONS[1] * len(slabs)))
    n_test = max(1, round(SPLIT_FRACTIONS[2] * len(slabs)))
    for rank, s in enumerate(order):
        name = "val" if rank < n_val else "test" if rank < n_val + n_test else "train"
        split[slabs[s]] = name
    held = np.isin(split, ["val", "test"])
    for k in np.flatnonzero(split == "train"):
        if (k > 0 and held[k - 1]) or (k + 1 < z and held[k + 1]):
            split[k] = "none"
    return split.astype(str)


def build_brain_volume() -> BrainVolume:
    """Build the dataset from the files inside nilearn (no network)."""
    from nilearn import datasets  # heavy (about 1 s to import), needed only when the cache is built

    t1 = datasets.load_mni152_template(resolution=1)
    gm = datasets.load_mni152_gm_template(resolution=1).get_fdata(dtype=np.float32)
    wm = datasets.load_mni152_wm_template(resolution=1).get_fdata(dtype=np.float32)
    mask = datasets.load_mni152_brain_mask(resolution=1).get_fdata(dtype=np.float32) > 0.5
    img = t1.get_fdata(dtype=np.float32)
    hi = float(np.percentile(img[mask], 99.5))
    img = np.clip(img / hi, 0.0, 1.0)
    csf = np.clip(1.0 - gm - wm, 0.0, 1.0)
    lab = np.argmax(np.stack([csf, gm, wm]), axis=0).astype(np.uint8) + 1
    lab[~mask] = 0
    img[~mask] = 0.0  # the template is skull-stripped; keep the background exactly 0
    volume = _to_slices(img).astype(np.float32)
    labels = _to_slices(lab).astype(np.uint8)
    valid = (labels > 0).reshape(labels.shape[0], -1).sum(1) >= MIN_BRAIN_PIXELS
    return BrainVolume(volume, labels, _slice_affine(t1.affine, img.shape), _assign_splits(valid))


def load_brain_volume() -> BrainVolume:
    """The embedded volume, from the cache when present (built and cached atomically otherwise)."""
    path = _cache_path()
    if path.exists():
        try:
            with np.load(path) as z:
                return BrainVolume(z["volume"].astype(np.float32) / 65535.0, z["labels"], z["affine"],
                                   z["split"].astype(str))
        except Exception as exc:  # a damaged cache is rebuilt, never trusted
            logger.warning("rebuilding the brain dataset cache %s: %s", path, exc)
    bv = build_brain_volume()
    q = np.round(bv.volume * 65535.0).astype(np.uint16)
    atomic_write_file(path, lambda tmp: np.savez_compressed(tmp, volume=q, labels=bv.labels, affine=bv.affine,
                                                            split=bv.split.astype("U5")))
    return BrainVolume(q.astype(np.float32) / 65535.0, bv.labels, bv.affine, bv.split)


def load_brain(split: str = "train") -> BrainSlices:
    """Slices of one split ("train", "val", "test") or "all" (every slice with brain in it)."""
    if split not in (*SPLITS, "all"):
        raise ValueError(f"unknown split {split!r}; valid: {', '.join((*SPLITS, 'all'))}")
    bv = load_brain_volume()
    keep = np.isin(bv.split, SPLITS) if split == "all" else bv.split == split
    idx = np.flatnonzero(keep)
    return BrainSlices(bv.volume[idx], bv.labels[idx], idx, split)


def brain_scan():
    """The embedded volume as a :class:`medgan.io.Scan` (labels attached), for the UI and the CLI."""
    bv = load_brain_volume()
    return Scan(
        volume=bv.volume,
        spacing=(1.0, 1.0, 1.0),
        affine=bv.affine,
        orientation="RAS",
        modality="MR",
        source_format="embedded",
        metadata={"description": "MNI152 2009c T1 template (nilearn), axial, 1 mm"},
        labels=bv.labels,
        label_names=CLASS_NAMES,
        source_path="embedded:mni152",
    )
