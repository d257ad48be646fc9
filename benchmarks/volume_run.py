"""Whole-volume runs: seconds for the central slices of the embedded brain (150 by default) per task, through
``medgan.tasks.run_volume`` with the per-slice metrics (the Studio's "Run on whole volume"), on a fixed number
of torch threads. Each task runs its default checkpoint (``medgan.defaults``); synthesis takes the scan's
labels, inpainting a 50×50 hole on every slice with tissue, enhancement the checkpoint's degradation. Models are
loaded before the timing. The figures scale with the machine's load: the load average is printed beside them.

    python benchmarks/volume_run.py [--slices 150] [--threads 2] [--tasks synthesis,segmentation] [--repeats 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from medgan import tasks  # noqa: E402
from medgan.data import load_brain_volume  # noqa: E402
from medgan.defaults import DEFAULT_MODELS  # noqa: E402
from medgan.inference import list_cards, load_model  # noqa: E402

TASKS = ("synthesis", "segmentation", "inpainting", "enhancement")


def _inputs(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    bv = load_brain_volume()
    start = max(0, (bv.volume.shape[0] - n) // 2)
    vol = np.ascontiguousarray(bv.volume[start : start + n])
    lab = np.ascontiguousarray(bv.labels[start : start + n])
    regions = np.zeros(vol.shape, bool)
    regions[:, 100:150, 90:140] = True
    return vol, lab, regions & (vol > 0.02)


def _run(task: str, vol: np.ndarray, lab: np.ndarray, regions: np.ndarray) -> tasks.VolumeResult:
    return tasks.run_volume(task, vol, DEFAULT_MODELS[task], labels=lab if task != "enhancement" else None,
                            regions=regions if task == "inpainting" else None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slices", type=int, default=150)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--repeats", type=int, default=1, help="runs per task; the fastest is printed")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    have = {c.name for c in list_cards()}
    vol, lab, regions = _inputs(args.slices)
    print(f"{vol.shape[0]} slices {vol.shape[1]}×{vol.shape[2]}, torch threads {torch.get_num_threads()}")
    for task in args.tasks.split(","):
        name = DEFAULT_MODELS[task]
        if name not in have:
            sys.stdout.write(f"{task}: skipped, checkpoint {name} is not installed\n")
            continue
        load_model(name)
        if "unet_segmentation" in have:
            load_model("unet_segmentation")
        best, cpu, res = float("inf"), 0.0, None
        for _ in range(args.repeats):
            load0 = os.getloadavg()[0]
            t0, c0 = time.perf_counter(), time.process_time()
            res = _run(task, vol, lab, regions)
            dt = time.perf_counter() - t0
            if dt < best:
                best, cpu = dt, time.process_time() - c0
        assert res is not None
        shown = ", ".join(f"{k} {v:.3f}" for k, v in res.metrics.items() if k in ("psnr", "ssim", "dice mean")
                          or k.endswith("U-Net mean"))
        skipped = len(getattr(res, "skipped", []))
        print(f"{task:<13} {name:<20} {best:7.2f} s  (cpu {cpu:6.1f} s, {best / vol.shape[0] * 1000:5.0f} ms/slice, "
              f"{skipped} empty slices skipped, load {load0:.1f})  {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
