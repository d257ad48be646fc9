"""Study design: image sources (real and generated), case selection, matched rendering, creation.

Generated images are produced here, once, when the study is created (never on request, so timing cannot leak).
All of a study's randomness (generator noise, case selection, case order, reader orders) comes from a per-study
secret drawn with :mod:`secrets` and kept server-side; the design records only its SHA-256 (a commitment the admin
can check the secret against later). No public endpoint can reproduce a generated case: ``/generate`` takes a
public seed, and the study's noise seeds are 63-bit values derived from the secret.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medgan.turing.presentation import present_pixels
from medgan.turing.render import CANONICAL_SIZE, encode_png, generator_output_to_unit
from medgan.turing.store import StudyInfo, TuringStore
from medgan.turing.study_types import CaseRecord, StudyOptions

logger = logging.getLogger(__name__)

REAL_DIR_ENV = "MEDGAN_TURING_REAL_DIR"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
MAX_SOURCE_IMAGES = 5000


@dataclass(frozen=True)
class ImageSource:
    """images: float32 (N, H, W) in [0, 1]; truth "real" | "generated"; refs: one admin-only note per image."""

    name: str
    truth: str
    images: np.ndarray
    refs: tuple[str, ...]
    note: str = ""  # what the set is (recorded in the study design)

    def __post_init__(self) -> None:
        if self.truth not in ("real", "generated"):
            raise ValueError(f"truth must be 'real' or 'generated', got {self.truth!r}")
        if self.images.ndim != 3 or len(self.images) == 0:
            raise ValueError(f"source {self.name!r}: images must be a non-empty (N, H, W) array")
        if len(self.refs) != len(self.images):
            raise ValueError(f"source {self.name!r}: one ref per image expected")


def array_source(name: str, images: np.ndarray, truth: str) -> ImageSource:
    """In-memory images (N, H, W) in [0, 1] as a named source."""
    arr = np.asarray(images, dtype=np.float32)
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    return ImageSource(name=name, truth=truth, images=arr, refs=tuple(f"{name}[{i}]" for i in range(len(arr))))


EMBEDDED_SETS: dict[str, tuple[str, ...]] = {
    "embedded-test": ("test",),
    "embedded-heldout": ("val", "test"),
    "embedded-all": ("train", "val", "test"),
}


EMBEDDED_NOTES = {
    "embedded-test": "embedded MNI152 2009c T1 template (one brain), test split",
    "embedded-heldout": "embedded MNI152 2009c T1 template (one brain), val + test splits (no training slices)",
    "embedded-all": "embedded MNI152 2009c T1 template (one brain), all splits INCLUDING training slices",
}


def default_real_set(checkpoints: list[str]) -> str:
    """The embedded set that holds no slice used to train the named checkpoints (their cards name the split):
    val + test when every card says it trained on the train split, the test split alone otherwise."""
    from medgan.inference import list_cards

    cards = {}
    for c in list_cards():
        get = c.get if isinstance(c, dict) else (lambda k, d=None, c=c: getattr(c, k, d))
        cards[get("name")] = str(get("dataset") or "")
    datasets = [cards.get(name, "") for name in checkpoints]
    if datasets and all("train split" in d for d in datasets):
        return "embedded-heldout"
    return "embedded-test"


def embedded_real(name: str = "embedded-test") -> ImageSource:
    """Embedded brain slices (medgan.data.load_brain): "embedded-test" (the test split), "embedded-heldout"
    (val + test) or "embedded-all" (every slice, training slices included)."""
    from medgan.data import load_brain

    if name not in EMBEDDED_SETS:
        raise ValueError(f"unknown embedded set {name!r}; valid: {', '.join(EMBEDDED_SETS)}")
    images, refs = [], []
    for split in EMBEDDED_SETS[name]:
        data = load_brain(split)
        images.append(data.images)
        refs += [f"{split} slice z={int(z)}" for z in data.slice_index]
    return ImageSource(name=name, truth="real", images=np.concatenate(images), refs=tuple(refs),
                       note=EMBEDDED_NOTES[name])


def _read_image_file(path: Path) -> list[np.ndarray]:
    """A file → list of float (H, W) in [0, 1] (PNG/JPEG/TIFF: one image; DICOM/NIfTI: every non-empty slice)."""
    from medgan.io import read_scan

    if path.suffix.lower() == ".bmp":  # 8-bit only: a display picture, 0..255
        from PIL import Image

        with Image.open(path) as im:
            return [np.asarray(im.convert("L"), dtype=np.float32) / 255.0]
    scan = read_scan(path)
    if path.suffix.lower() in IMAGE_SUFFIXES:  # 8-bit pictures 0..255; 16-bit ones windowed, as the Studio does
        from medgan.domain import normalise

        return [normalise(scan)[0]]
    vol = np.asarray(scan.volume, dtype=np.float32)
    lo, hi = np.percentile(vol, [0.5, 99.5])
    vol = np.clip((vol - lo) / max(hi - lo, 1e-6), 0, 1)
    return [s for s in vol if (s > 0.05).mean() > 0.02]


def files_real(paths: list[str | Path], name: str = "uploaded") -> ImageSource:
    """Real images from files (an uploaded set)."""
    images: list[np.ndarray] = []
    refs: list[str] = []
    for p in paths:
        p = Path(p)
        try:
            slices = _read_image_file(p)
        except Exception as exc:  # noqa: BLE001 - report which file failed and why
            raise ValueError(f"could not read {p.name}: {exc}") from exc
        for i, s in enumerate(slices):
            images.append(s)
            refs.append(f"{p.name}#{i}")
        if len(images) >= MAX_SOURCE_IMAGES:
            break
    if not images:
        raise ValueError("no readable images in the uploaded set (accepted: PNG, JPEG, TIFF, DICOM, NIfTI)")
    from medgan.turing.render import canonical_pixels

    stack = np.stack([canonical_pixels(im).astype(np.float32) / 255.0 for im in images])
    return ImageSource(name=name, truth="real", images=stack, refs=tuple(refs),
                       note=f"{len(stack)} images from {len(paths)} uploaded file(s)")


def folder_real(folder: str | Path) -> ImageSource:
    """Real images from a server folder; only inside the folder named by ``MEDGAN_TURING_REAL_DIR``."""
    root = os.environ.get(REAL_DIR_ENV)
    if not root:
        raise ValueError(f"server folders are disabled; set {REAL_DIR_ENV} to enable one")
    base = Path(root).resolve()
    path = (base / folder).resolve() if not Path(folder).is_absolute() else Path(folder).resolve()
    if path != base and base not in path.parents:
        raise ValueError(f"the folder must be inside {REAL_DIR_ENV}")
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return files_real(files, name=f"folder:{path.name}")


def checkpoint_source(name: str, n: int, seed: int, device: str = "cpu") -> ImageSource:
    """``n`` images from a named checkpoint: generation (noise → image) or synthesis (test label maps → image)."""
    import torch

    from medgan.inference import load_model

    loaded = load_model(name, device=device)
    card = loaded.card
    get = card.get if isinstance(card, dict) else (lambda k, d=None: getattr(card, k, d))
    task = get("task")
    gen = torch.Generator().manual_seed(int(seed) & 0x7FFF_FFFF_FFFF_FFFF)
    outs: list[np.ndarray] = []
    refs: list[str] = []
    with torch.no_grad():
        if task == "generation":
            z_dim = int(get("z_dim"))
            for start in range(0, n, 16):
                k = min(16, n - start)
                z = torch.randn(k, z_dim, generator=gen).to(device)
                y = loaded.module(z)
                outs.extend(generator_output_to_unit(y[:, 0].float().cpu().numpy()))
                refs.extend(f"{name} noise #{start + i}" for i in range(k))
        elif task == "synthesis":
            from medgan.data import load_brain
            from medgan.tasks import synthesize

            data = load_brain("test")
            idx = np.random.default_rng(seed).choice(len(data), size=n, replace=n > len(data))
            for j, i in enumerate(idx):
                outs.append(synthesize(data.labels[i], name, seed=(int(seed) + j) & 0x7FFF_FFFF_FFFF_FFFF).output)
                refs.append(f"{name} from test labels z={int(data.slice_index[i])} #{j}")
        else:
            raise ValueError(f"checkpoint {name!r} has task {task!r}; Turing studies use generation or synthesis")
    images = np.stack(outs).astype(np.float32)
    return ImageSource(name=name, truth="generated", images=images, refs=tuple(refs),
                       note=f"checkpoint {name} ({task}, {images.shape[-1]} px)")


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def secret_seed(secret: bytes, label: str) -> int:
    """A 63-bit seed derived from the study secret for one purpose (``label``)."""
    return int.from_bytes(hashlib.sha256(secret + b"/" + label.encode()).digest()[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF


def native_size(generated: list[ImageSource]) -> int | None:
    """The generators' native resolution (the smallest side among the generated sources)."""
    return min((max(src.images.shape[1:]) for src in generated), default=None)


def design_cases(options: StudyOptions, real: list[ImageSource], generated: list[ImageSource],
                 secret: bytes | None = None, native: int | None = None) -> list[CaseRecord]:
    """Selection (from the study secret) + matched rendering. Returns the cases in a secret random order, so the
    order in the database, and the case ids derived from it, carry nothing about the truth."""
    options.validate()
    rng = np.random.default_rng(secret_seed(secret, "select") if secret is not None else options.seed)
    native = native or native_size(generated) or CANONICAL_SIZE
    n_real = int(round(options.n_cases * options.real_fraction))
    n_gen = options.n_cases - n_real
    p_real = options.n_practice // 2
    p_gen = options.n_practice - p_real
    if (n_real + p_real) and not real:
        raise ValueError("this design needs real images: choose a real image set")
    if (n_gen + p_gen) and not generated:
        raise ValueError("this design needs generated images: choose at least one checkpoint")
    picks: list[tuple[ImageSource, int, bool]] = []
    for group, n_scored, n_prac in ((real, n_real, p_real), (generated, n_gen, p_gen)):
        if not group:
            continue
        pool = [(src, i) for src in group for i in range(len(src.images))]
        # spread scored cases evenly over the sources of the group, then practice from what is left
        wanted = _split(n_scored, len(group))
        chosen: list[tuple[ImageSource, int]] = []
        for src, k in zip(group, wanted):
            if k > len(src.images):
                raise ValueError(f"the {group[0].truth} set {src.name!r} has {len(src.images)} images but the design "
                                 f"needs {k}: use fewer cases, another real fraction, or a larger set")
            chosen += [(src, int(i)) for i in rng.choice(len(src.images), size=k, replace=False)]
        taken = {(s.name, i) for s, i in chosen}
        rest = [(s, i) for s, i in pool if (s.name, i) not in taken]
        if n_prac > len(rest):
            raise ValueError(f"not enough images left for {n_prac} practice cases")
        prac = [rest[int(j)] for j in rng.choice(len(rest), size=n_prac, replace=False)] if n_prac else []
        picks += [(s, i, False) for s, i in chosen] + [(s, i, True) for s, i in prac]
    records = []
    for j in rng.permutation(len(picks)):
        src, i, practice = picks[int(j)]
        png = encode_png(present_pixels(src.images[i], native))
        records.append(CaseRecord(case_key=secrets.token_hex(16), truth=src.truth, source=src.name,
                                  source_ref=src.refs[i], practice=practice,
                                  sha256=hashlib.sha256(png).hexdigest(), png=png))
    return records


def _decode(png: bytes) -> np.ndarray:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im.convert("L"))


def create_study(name: str, options: StudyOptions | None = None, real: list[ImageSource] | ImageSource | None = None,
                 generated: list[ImageSource | str] | None = None, store: TuringStore | None = None,
                 description: str = "", secret: bytes | None = None, on_separable: str = "warn") -> StudyInfo:
    """Create a study. ``generated`` items are ImageSources or checkpoint names (images made now, in advance).

    ``secret``: the study's randomness (default: 32 fresh bytes from :mod:`secrets`; pass one only in tests).
    ``on_separable``: "warn" records and logs a failed presentation check, "refuse" raises ValueError naming the
    image statistic that separates real from generated cases.
    """
    from medgan.turing.presentation import check_message, separability_check

    if on_separable not in ("warn", "refuse"):
        raise ValueError("on_separable must be 'warn' or 'refuse'")
    options = options or StudyOptions()
    options.validate()
    store = store or TuringStore()
    secret = secret if secret is not None else secrets.token_bytes(32)
    real_list = [real] if isinstance(real, ImageSource) else list(real or [])
    gen_items = list(generated or [])
    n_gen = options.n_cases - int(round(options.n_cases * options.real_fraction))
    n_gen_total = n_gen + (options.n_practice - options.n_practice // 2)
    names = [g for g in gen_items if isinstance(g, str)]
    if len(set(names)) != len(names):
        raise ValueError("each checkpoint may be listed once")
    counts = _split(n_gen_total, max(len(gen_items), 1))
    gen_sources: list[ImageSource] = []
    for k, (item, count) in enumerate(zip(gen_items, counts)):
        if isinstance(item, str):
            gen_sources.append(checkpoint_source(item, max(count, 1), seed=secret_seed(secret, f"noise/{k}/{item}")))
        else:
            gen_sources.append(item)
    native = native_size(gen_sources) or CANONICAL_SIZE
    records = design_cases(options, real_list, gen_sources, secret=secret, native=native)
    check = separability_check([_decode(r.png) for r in records if r.truth == "real"],
                               [_decode(r.png) for r in records if r.truth == "generated"])
    message = check_message(check)
    if check["fired"]:
        if on_separable == "refuse":
            raise ValueError(message + " Study not created: match the real and generated images (resolution, "
                             "window, source) or create it anyway with the separable-design override.")
        logger.warning("study %r: %s", name, message)
    design = {
        "seed_commitment_sha256": hashlib.sha256(secret).hexdigest(),
        "randomness": "secrets.token_bytes(32) per study, kept server-side; noise, selection and orders derive "
                      "from it (SHA-256 of secret + purpose)",
        "generated_sources": [{"name": g.name, "note": g.note, "images": int(len(g.images))} for g in gen_sources],
        "real_sources": [{"name": r.name, "note": r.note, "images": int(len(r.images))} for r in real_list],
        "presentation": {"native_size": int(native), "display_size": CANONICAL_SIZE, "window": [0.0, 1.0],
                         "resampling": "Lanczos (antialiased) to native size, 8-bit quantisation, Lanczos to "
                                       "display size; the same for every case",
                         "check": check, "check_message": message},
        "options": options.to_dict(),
    }
    sid = store.create_study(name, options, records, description=description, secret=secret.hex(), design=design)
    logger.info("created Turing study %r: %d cases (%d practice)", name, len(records), options.n_practice)
    return store.get_study(sid)
