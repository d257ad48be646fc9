"""Segmentation U-Net on the slices no split contains: the ends of the embedded MNI152 volume.

The train / val / test splits hold only slices with at least ``MIN_BRAIN_PIXELS`` brain pixels. A user scrolling
through a volume also meets slices with a little brain (near the vertex, the lower cerebellum) and slices with
none (above the head). For those, this prints:
- empty slices: mean number of pixels the U-Net calls tissue (should be 0);
- small slices: tissue pixels predicted outside the brain mask (false tissue), and mean Dice over the classes
  present (CSF / GM / WM).

Run: ``OMP_NUM_THREADS=1 python benchmarks/segmentation_robustness.py [--model unet_segmentation]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from medgan.data.brain import MIN_BRAIN_PIXELS, load_brain_volume  # noqa: E402
from medgan.metrics import dice_per_class  # noqa: E402
from medgan.tasks import segment_many  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="unet_segmentation")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.time()
    bv = load_brain_volume()
    fg = (bv.labels > 0).reshape(bv.labels.shape[0], -1).sum(1)
    empty = np.flatnonzero(fg == 0)
    small = np.flatnonzero((fg > 0) & (fg < MIN_BRAIN_PIXELS))
    preds = segment_many([bv.volume[i] for i in np.concatenate([empty, small])], a.model)
    pe, ps = preds[: len(empty)], preds[len(empty):]
    false_empty = [int((p > 0).sum()) for p in pe]
    false_small = [int(((p > 0) & (bv.labels[i] == 0)).sum()) for p, i in zip(ps, small)]
    dices = []
    for p, i in zip(ps, small):
        d = dice_per_class(torch.from_numpy(p.astype(np.int64)), torch.from_numpy(bv.labels[i].astype(np.int64)), 4,
                           include_background=True).numpy()
        present = [c for c in (1, 2, 3) if (bv.labels[i] == c).any() or (p == c).any()]
        dices.append(float(np.mean([d[c] for c in present])) if present else 1.0)
    print(f"{a.model}: {len(empty)} empty slices: false tissue {np.mean(false_empty):.1f} px per slice "
          f"(max {max(false_empty, default=0)}) of {bv.labels.shape[1] * bv.labels.shape[2]}")
    print(f"{a.model}: {len(small)} small slices (1..{MIN_BRAIN_PIXELS - 1} brain px, mean {fg[small].mean():.0f}): "
          f"false tissue outside the brain {np.mean(false_small):.0f} px per slice (max {max(false_small, default=0)}); "
          f"mean Dice {np.mean(dices):.3f}")
    print(f"({time.time() - t0:.0f} s, 1 thread)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
