"""The domain of a model: what its card says it was trained on, the normalisation its inputs need, and an
in-domain score for any input slice.

- :func:`card_domain` builds a card's ``domain`` dict (modality, anatomy, contrast, orientation, intensity
  convention, spacing and size trained on, training data, normalisation); :func:`domain_of` reads it from a card
  (or builds it for cards written before the field existed); :func:`domain_text` says it in plain words.
- :func:`scan_window` / :func:`normalise`: the one input normalisation (MR: 0.5–99.5 percentiles of the volume's
  non-zero voxels to [0, 1], a zero background stays zero; CT: the soft-tissue window; 8-bit display pictures
  0..255; the embedded data as it is).
  The Studio's automatic window, the API, the CLI and the volume runner all call it.
- :func:`check` scores a [0, 1] slice against the training slices (``medgan.domain_stats``: Mahalanobis distance
  of U-Net encoder features plus simple image statistics, calibrated so that ≥ 95 % of the embedded held-out
  slices pass) and applies rules on the scan's metadata (modality, colour, body part, pixel spacing).
  An out-of-domain input still runs; its result carries :attr:`DomainCheck.warning`.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

BRAIN_ANATOMY = "brain (axial slices of the cerebrum and cerebellum)"
ORIENTATION = "axial, anterior at the top, patient right on image right (neurological)"
INTENSITY = "skull-stripped (no skull, scalp or neck), zero background"
SPACING_MM = (1.0, 1.0)
SPACING_RANGE_MM = (0.5, 2.0)  # in-plane pixel spacings the models see after resizing to their grid (rule below)
PERCENTILES = (0.5, 99.5)
ZERO_BACKGROUND_FRACTION = 0.05  # a volume with more exact zeros than this keeps zero as its black
COLOUR_PHOTOMETRICS = ("RGB", "YBR", "PALETTE")
BRAIN_BODY_PARTS = ("HEAD", "BRAIN", "SKULL", "CEREBRUM", "NEURO")
TRAIN_TAB_HINT = ("To use it on your own kind of scans, fine-tune it on them in the **Train** tab "
                  "(start from this checkpoint with *init from*).")


# --------------------------------------------------------------------------------------------- card domain
def _get(card: Any, key: str, default: Any = None) -> Any:
    return card.get(key, default) if isinstance(card, dict) else getattr(card, key, default)


def _all_families(p: float, fams: tuple[str, ...]) -> tuple[str, ...]:
    """The families a ``--randomise P`` draws: those named, or every family when none are."""
    from medgan.data.randomise import FAMILIES

    return (fams or FAMILIES) if p > 0 else ()


def _union(*draws: tuple[float, tuple[str, ...]]) -> tuple[float, tuple[str, ...]]:
    """(the highest probability, every family drawn by any of them, in ``FAMILIES`` order)."""
    from medgan.data.randomise import FAMILIES

    p = max((d[0] for d in draws), default=0.0)
    seen = {f for q, fams in draws for f in _all_families(q, fams)}
    return p, tuple(f for f in FAMILIES if f in seen) + tuple(sorted(seen - set(FAMILIES)))


def _randomise_from_command(command: str) -> tuple[float, tuple[str, ...]]:
    """Domain randomisation over a training command chain: each stage's ``--randomise P`` (and
    ``--randomise-families``), united (a model has seen every family any of its stages drew)."""
    draws = []
    for part in command.split("&&"):
        try:
            words = shlex.split(part, comments=True)
        except ValueError:
            words = part.split()
        p, fams = 0.0, ()
        for i, w in enumerate(words[:-1]):
            if w == "--randomise":
                try:
                    p = float(words[i + 1])
                except ValueError:
                    pass
            elif w == "--randomise-families":
                fams = tuple(f.strip() for f in words[i + 1].split(",") if f.strip())
        draws.append((p, fams))
    return _union(*draws)


def training_randomisation(card: Any, data_config: dict[str, Any] | None = None) -> tuple[float, tuple[str, ...]]:
    """(probability, families) of domain randomisation in training: from ``data_config`` (the run's
    ``config.json`` ``data`` section) or a ``config.json`` beside the card, united with every stage of the card's
    training command chain (a fine-tune has also seen what its parent's stages drew)."""
    cfg = data_config
    if cfg is None:
        path = _get(card, "card_path")
        if path and Path(path).name == "model.json" and (Path(path).parent / "config.json").is_file():
            try:
                cfg = json.loads((Path(path).parent / "config.json").read_text()).get("data", {})
            except (OSError, ValueError):
                cfg = None
    chain = _randomise_from_command(str(_get(card, "training_command", "") or ""))
    if cfg is None:
        return chain
    run = (float(cfg.get("randomise", 0) or 0), tuple(cfg.get("randomise_families") or ()))
    return _union(run, chain)


MIXED_MODALITY = "MR, plus CR, CT and NM slices"  # the modality line of a card trained on embedded+pydicom


def trained_modalities(modality: str) -> tuple[str, ...]:
    """The DICOM modality codes a card's ``domain.modality`` line names ("MR", or "MR, plus CR, CT and NM
    slices" → MR, CR, CT, NM); a line without codes is taken as it stands."""
    codes = tuple(re.findall(r"\b[A-Z]{2}\b", modality))
    return codes or (modality,)


def card_domain(card: Any, data_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``domain`` dict of a card trained on the embedded brain data (cards and run configs may be dicts)."""
    from medgan.data.randomise import FAMILIES, HELD_OUT

    size = int(_get(card, "image_size", 256) or 256)
    p, fams = training_randomisation(card, data_config)
    fams = fams or (FAMILIES if p > 0 else ())
    if p > 0 and "contrast" in fams:
        contrast = "T1-like and randomised contrasts; T2-like held out"
    elif p > 0:
        contrast = "T1-weighted, with randomised intensity (" + ", ".join(fams) + "); other contrasts not seen"
    else:
        contrast = "T1-weighted (one template contrast)"
    intensity = INTENSITY
    if p > 0 and "background" in fams:
        intensity = "skull-stripped; zero or dim, noisy backgrounds (randomised)"
    mixed = ((data_config or {}).get("source") == "embedded+pydicom"
             or "pydicom" in str(_get(card, "dataset", "")))  # the card alone says so too (re-written cards)
    return {
        "modality": MIXED_MODALITY if mixed else "MR",
        "anatomy": BRAIN_ANATOMY + ("; plus chest and leg radiographs, head CT, whole-body NM (pydicom-data)"
                                    if mixed else ""),
        "contrast": contrast,
        "orientation": ORIENTATION,
        "intensity": intensity,
        "pixel_spacing_mm": [round(v * 256 / size, 3) for v in SPACING_MM],
        "pixel_spacing_range_mm": list(SPACING_RANGE_MM),
        "size_px": [size, size],
        "size_note": (f"inputs are padded to a square and resized to {size}×{size} px; the training slices are "
                      f"the template's 1 mm, 256×256 axial slices (197×233 mm brain field of view)"
                      + (", resized to this grid" if size != 256 else "")),
        "training_data": str(_get(card, "dataset", "") or "embedded MNI152 2009c T1 (nilearn), train split"),
        "randomised": {"probability": p, "families": list(fams), "held_out": list(HELD_OUT)} if p > 0 else None,
        "normalisation": {
            "kind": "mr_percentile",
            "percentiles": list(PERCENTILES),
            "of": "non-zero voxels of the volume",
            "background": "zero stays zero",
            "range": [0.0, 1.0],
            "model_range": [-1.0, 1.0],
            "ct": "soft-tissue window (level 40, width 400 HU); CT is outside the training domain",
        },
    }


def domain_of(card: Any) -> dict[str, Any]:
    """The card's ``domain`` (its field, or the card file's key), else the one :func:`card_domain` derives."""
    dom = _get(card, "domain")
    if isinstance(dom, dict) and dom:
        return dom
    path = _get(card, "card_path")
    if path and Path(path).is_file():
        try:
            dom = json.loads(Path(path).read_text()).get("domain")
        except (OSError, ValueError):
            dom = None
        if isinstance(dom, dict) and dom:
            return dom
    return card_domain(card)


def domain_text(card: Any) -> str:
    """The domain in plain words (one Markdown line) for the Studio beside the checkpoint picker."""
    d = domain_of(card)
    norm = d.get("normalisation") or {}
    lo, hi = (norm.get("percentiles") or PERCENTILES)[:2]
    size = d.get("size_px") or [256, 256]
    sp = d.get("pixel_spacing_mm") or SPACING_MM
    return (f"**Trained on:** {d.get('modality', 'MR')} of the {d.get('anatomy', 'brain')}, "
            f"{d.get('contrast', 'T1')}, {d.get('intensity', '')}; {d.get('orientation', '')}; "
            f"{sp[0]:g} mm pixels, {size[0]}×{size[1]} px. "
            f"**Input normalisation:** {lo:g}–{hi:g} percentile window of the non-zero voxels, background zero. "
            "Other scans run, with a warning.")


# --------------------------------------------------------------------------------------------- normalisation
def _tissue_range(volume: np.ndarray) -> tuple[float, float]:
    v = np.asarray(volume, dtype=np.float32).reshape(-1)
    step = max(1, v.size // 1_000_000)
    sample = v[::step]
    nz = sample[sample != 0]
    if nz.size < 16:
        lo, hi = (float(sample.min()), float(sample.max())) if sample.size else (0.0, 1.0)
    else:
        lo, hi = (float(x) for x in np.percentile(nz, PERCENTILES))
    if sample.size and float(sample.min()) >= 0 and float((sample == 0).mean()) > ZERO_BACKGROUND_FRACTION:
        lo = min(lo, 0.0)
    return lo, hi


def scan_window(scan: Any, card: Any = None) -> tuple[float, float]:
    """(level, width) that maps a scan (a ``Scan`` or an array) to the model's [0, 1] input, the way its training
    data was normalised: the embedded data as it is; an 8-bit display picture (uint8, or an 8-bit PNG / JPEG /
    TIFF: :func:`medgan.io.is_display_8bit`) 0..255; CT the soft-tissue window; anything else (16-bit files
    included, whatever their values) the 0.5–99.5 percentiles of the volume's non-zero voxels (a zero
    background stays zero). The one input normalisation of the API, the Studio and the CLI."""
    from medgan.io import CT_PRESETS, DISPLAY_WINDOW, is_display_8bit

    if getattr(scan, "source_format", "") == "embedded":
        return 0.5, 1.0
    if is_display_8bit(scan):
        return DISPLAY_WINDOW
    if getattr(scan, "modality", "") == "CT":
        return CT_PRESETS["soft tissue"]
    lo, hi = _tissue_range(np.asarray(getattr(scan, "volume", scan)))
    return (lo + hi) / 2.0, max(hi - lo, 1e-6)


def normalise(scan: Any, card: Any = None) -> np.ndarray:
    """A scan (or array) → float32 in [0, 1] with :func:`scan_window` (same shape)."""
    from medgan.io import window

    level, width = scan_window(scan, card)
    return window(np.asarray(getattr(scan, "volume", scan), dtype=np.float32), level, width)


# --------------------------------------------------------------------------------------------- the check
@dataclass
class DomainCheck:
    """in_domain: whether the input looks like the training data; score: the feature distance divided by the
    calibrated threshold (≤ 1 passes); reasons: what differs, in plain words."""

    in_domain: bool
    score: float
    reasons: list[str] = field(default_factory=list)
    model: str = ""

    def metrics(self) -> dict[str, float]:
        return {"in domain": 1.0 if self.in_domain else 0.0, "domain score": float(self.score)}

    def api(self) -> dict[str, Any]:
        """What the API adds to its metrics JSON."""
        out: dict[str, Any] = {"in_domain": bool(self.in_domain),
                               "domain_score": float(self.score) if np.isfinite(self.score) else None}
        if not self.in_domain:
            out["domain_warning"] = self.warning(markdown=False)
        return out

    def warning(self, markdown: bool = True) -> str:
        if self.in_domain:
            return ""
        who = f"**{self.model}**" if markdown and self.model else (self.model or "the model")
        text = (f"Out of domain: this input does not look like what {who} was trained on "
                f"(skull-stripped T1 brain MR). " + "; ".join(self.reasons) + ". "
                "The result and its metrics are not trustworthy. ")
        hint = TRAIN_TAB_HINT if markdown else TRAIN_TAB_HINT.replace("**", "").replace("*", "")
        return ("⚠ " + text + hint) if markdown else text + hint


def metadata_reasons(scan: Any, card: Any = None) -> list[str]:
    """Rules on the scan's metadata against the card's domain: modality, colour, body part, pixel spacing."""
    if scan is None or getattr(scan, "source_format", "") == "embedded":
        return []
    dom = domain_of(card) if card is not None else {"modality": "MR"}
    want = str(dom.get("modality", "MR"))
    trained = trained_modalities(want)
    out = []
    modality = str(getattr(scan, "modality", "") or "")
    meta = getattr(scan, "metadata", None) or {}
    names = {"CT": "CT", "US": "ultrasound", "OT": "a secondary capture (not an MR acquisition)",
             "CR": "radiography", "DX": "radiography", "MG": "mammography", "PT": "PET", "NM": "nuclear medicine",
             "XA": "X-ray angiography"}
    if (modality and modality not in (*trained, "OT", "UNKNOWN", "unknown")
            and getattr(scan, "source_format", "") in ("dicom", "nifti")):
        out.append(f"modality is {names.get(modality, modality)}, the model was trained on {want}")
    photometric = str(meta.get("photometric", "") or "")
    if any(photometric.startswith(p) for p in COLOUR_PHOTOMETRICS):
        out.append(f"a colour image ({photometric}), the model was trained on grey MR")
    part = str(meta.get("body part", "") or "").upper()
    if part and not any(b in part for b in BRAIN_BODY_PARTS):
        out.append(f"body part is {part.lower()}, the model was trained on the brain")
    spacing = getattr(scan, "spacing", None)
    if spacing is not None and getattr(scan, "source_format", "") in ("dicom", "nifti"):
        lo, hi = dom.get("pixel_spacing_range_mm") or SPACING_RANGE_MM
        inplane = [float(s) for s in list(spacing)[1:3]]
        if inplane and any(not lo <= s <= hi for s in inplane):
            out.append(f"pixel spacing {'×'.join(f'{s:.2g}' for s in inplane)} mm is outside the "
                       f"{lo:g}–{hi:g} mm the model's 1 mm training slices cover")
    return out


def check(image: np.ndarray, model: Any = None, scan: Any = None) -> DomainCheck:
    """In-domain check of one input slice float32 (H, W) in [0, 1] (normalised as the model's input) for
    ``model`` (a name, a loaded model, a card, or None for the bundled brain domain). ``scan`` (optional)
    supplies the metadata rules. Never raises for a bad slice: a slice the score cannot read is out of domain."""
    from medgan import domain_stats

    card = _card(model)
    name = str(_get(card, "name", "") or "") if card is not None else ""
    reasons = metadata_reasons(scan, card)
    try:
        score, why = domain_stats.score(np.asarray(image, dtype=np.float32))
    except ValueError as exc:
        score, why = float("inf"), [str(exc)]
    if score > 1.0:
        reasons += why or ["the image does not resemble the training slices"]
    return DomainCheck(not reasons, float(score), reasons, name)


def _card(model: Any) -> Any:
    if model is None:
        return None
    if isinstance(model, str):
        from medgan.inference import find_card

        try:
            return find_card(model)
        except ValueError:
            return None
    return getattr(model, "card", model)


# --------------------------------------------------------------------------------------------- honest names
AGREEMENT = "label agreement with the U-Net"


def as_agreement(metrics: dict[str, float]) -> dict[str, float]:
    """Dice/IoU computed against the U-Net's own labels renamed for what they are (agreement, not accuracy):
    ``dice X`` → ``label agreement with the U-Net X``; ``iou X`` → ``label IoU with the U-Net X``."""
    out: dict[str, float] = {}
    for k, v in metrics.items():
        if k.startswith("dice "):
            out[f"{AGREEMENT} {k[5:]}"] = v
        elif k.startswith("iou "):
            out[f"label IoU with the U-Net {k[4:]}"] = v
        else:
            out[k] = v
    return out


def is_agreement(key: str) -> bool:
    return key.startswith(AGREEMENT) or key.startswith("label IoU with the U-Net") or key.startswith("label agreement")



# --------------------------------------------------------------------------------------------- cards on disk
def write_card_domains(folder: str | Path) -> list[Path]:
    """Add (or refresh) the ``domain`` field of every card JSON in ``folder``, keeping every other field and the
    file's layout (2-space indent). Returns the cards written."""
    written = []
    for path in sorted(Path(folder).glob("*.json")):
        raw = path.read_text()
        card = json.loads(raw)
        if not isinstance(card, dict) or "task" not in card or "generator" not in card:
            continue
        card["domain"] = card_domain(card)
        text = json.dumps(card, indent=2) + ("\n" if raw.endswith("\n") else "")
        if text != raw:
            path.write_text(text)
            written.append(path)
    return written


if __name__ == "__main__":  # python -m medgan.domain [FOLDER]: write the domain into the cards of FOLDER
    import sys

    from medgan.inference import BUNDLED_DIR
    from medgan.logging_setup import setup_logging

    setup_logging("INFO")
    for p in write_card_domains(sys.argv[1] if len(sys.argv) > 1 else BUNDLED_DIR):
        logger.info("domain written into %s", p)
