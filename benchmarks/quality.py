"""Every bundled conditional model beside classical baselines, on the same inputs (medgan.evaluation.quality).

Inpainting (the headline: inside the hole, no labels): biharmonic and OpenCV Telea vs each inpainting model, for
50×50, 80×80 and free-form holes on the held-out test slices (and a 50×50 hole with its mirror image hidden too:
the embedded template is exactly left-right symmetric), on the test slices under each fixed shift (T2-like
remap held out from training), and on real pydicom-data CT/MR slices; oracle labels (the dataset's, made from the
hidden pixels) reported separately. Synthesis: mean-intensity painting and the nearest training slice.
Segmentation: Dice clean and under each shift. Enhancement: degraded input, Gaussian / TV / non-local means,
bicubic / Lanczos, Richardson–Lucy / Wiener, on test slices and on the real slices.

    OMP_NUM_THREADS=1 python benchmarks/quality.py [--tasks inpainting,synthesis,segmentation,enhancement]
        [--max-slices 0] [--threads 1] [--models NAME,...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from medgan.data.randomise import TEST_SHIFTS  # noqa: E402
from medgan.evaluation import quality as Q  # noqa: E402
from medgan.inference import list_cards  # noqa: E402

ALL = ("inpainting", "synthesis", "segmentation", "enhancement")


def _names(task: str, only: set[str]) -> list[str]:
    """The bundled checkpoints of ``task``, or those named in --models (a candidate in MEDGAN_HOME too)."""
    return [c.name for c in list_cards(task) if (c.name in only if only else c.bundled)]


def _write_cards(rows: list[Q.Row]) -> None:
    import shlex

    from medgan.atomic import atomic_write_json

    command = "OMP_NUM_THREADS=1 python benchmarks/quality.py " + " ".join(
        shlex.quote(a) for a in sys.argv[1:] if a != "--write-cards")
    for card in list_cards():
        if card.bundled and any(r.method == card.name for r in rows):
            data = json.loads(card.card_path.read_text())
            data.setdefault("metrics", {})["quality"] = Q.card_quality(rows, card.name, command)
            atomic_write_json(card.card_path, data)
            print(f"wrote metrics.quality into {card.card_path.name}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default=",".join(ALL))
    ap.add_argument("--max-slices", type=int, default=0, help="limit the test slices (0 = all 20)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--train-check", action="store_true",
                    help="inpainting: the same holes on 20 training slices too (a generalisation check; not with "
                         "--write-cards)")
    ap.add_argument("--models", default="", help="only these checkpoints (comma-separated)")
    ap.add_argument("--write-cards", action="store_true",
                    help="write each measured model's rows (and its baselines') into its card's metrics.quality")
    ap.add_argument("--checkpoints", default=None,
                    help="a folder of checkpoints (e.g. a train-all output) that take the place of the installed "
                         "ones of the same names")
    args = ap.parse_args()
    if args.train_check and args.write_cards:
        ap.error("--train-check measures slices the models were trained on; those figures never go into a card")
    if args.max_slices == 1 and "synthesis" in args.tasks:
        ap.error("--max-slices 1: the synthesis rows' FD-medgan needs at least 2 slices (0 = all)")
    if args.checkpoints:
        from medgan import inference
        from medgan.recipes.override import checkpoints_first

        print(f"checkpoints from {args.checkpoints}: {', '.join(checkpoints_first(Path(args.checkpoints)))}")
        globals()["list_cards"] = inference.list_cards
    if args.threads:
        torch.set_num_threads(args.threads)
    only = {m for m in args.models.split(",") if m}
    tasks = [t for t in args.tasks.split(",") if t]
    t0 = time.time()
    images, labels = Q.test_set(args.max_slices)
    real = Q.real_slices()
    rows: list[Q.Row] = []
    print(f"held-out test slices: {len(images)} (embedded MNI152, 256 px); real slices: {', '.join(real)}\n")
    if "inpainting" in tasks:
        models = _names("inpainting", only)
        rows += Q.inpainting_rows(models, list(images), list(labels), "test slices", holes=(*Q.HOLES, Q.MIRROR_HOLE))
        for shift in ("T2-like (held out)", "gamma 0.6", "bias +30%", "noise 0.05"):
            shifted = [TEST_SHIFTS[shift](im, lb) for im, lb in zip(images, labels)]
            rows += Q.inpainting_rows(models, shifted, list(labels), shift, holes=("50×50",), telea=False)
        rows += Q.inpainting_rows(models, list(real.values()), [None] * len(real), "real pydicom slices",
                                  holes=("50×50", "free-form"))
        rows += Q.oracle_inpainting_rows(models, images, labels, "unet_segmentation")
        if args.train_check:
            seen, seen_labels = Q.train_check_set()
            rows += Q.inpainting_rows(models, list(seen), list(seen_labels), "TRAINING slices (seen in training)",
                                      holes=Q.HOLES, telea=False)
    if "synthesis" in tasks:
        from medgan.metrics.features import medgan_features

        feats = medgan_features()
        rows += Q.synthesis_rows(_names("synthesis", only), images, labels,
                                 features=lambda x: feats(np.asarray(x)))
    if "segmentation" in tasks:
        rows += Q.segmentation_rows(_names("segmentation", only), images, labels)
    if "enhancement" in tasks:
        enh: dict[str, list[str]] = {}
        for c in list_cards("enhancement"):
            if c.degradation and c.name in _names("enhancement", only):
                enh.setdefault(c.degradation, []).append(c.name)
        rows += Q.enhancement_rows(enh, list(images), "test slices")
        rows += Q.enhancement_rows(enh, list(real.values()),
                                   "real pydicom slices", image_names=list(real))
    print(Q.format_rows(rows))
    if args.write_cards:
        _write_cards(rows)
    print(f"\n{time.time() - t0:.0f} s · torch {torch.__version__}, {torch.get_num_threads()} threads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
