"""Speed of the metrics: PSNR + SSIM over a 150-slice 256×256 volume vs looping scikit-image per slice
(target ≥ 3× faster), and in-domain feature extraction (FD-medgan) images/s.

    python benchmarks/metrics_bench.py [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio as sk_psnr
from skimage.metrics import structural_similarity as sk_ssim

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from medgan.data import load_brain_volume  # noqa: E402
from medgan.metrics import EncoderFeatures, psnr, ssim  # noqa: E402


def _best(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def volume(n: int = 150) -> tuple[np.ndarray, np.ndarray]:
    vol = load_brain_volume().volume
    mid = vol.shape[0] // 2
    clean = np.ascontiguousarray(vol[mid - n // 2 : mid - n // 2 + n])
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 15 / 255, clean.shape), 0, 1).astype(np.float32)
    return clean, noisy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    clean, noisy = volume()
    print(f"volume {clean.shape}, torch {torch.__version__}, {torch.get_num_threads()} threads")

    def ours() -> tuple[torch.Tensor, torch.Tensor]:
        return psnr(noisy, clean), ssim(noisy, clean)

    def skimage_loop() -> tuple[np.ndarray, np.ndarray]:
        p = [sk_psnr(c, x, data_range=1.0) for c, x in zip(clean, noisy)]
        s = [sk_ssim(c, x, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
             for c, x in zip(clean, noisy)]
        return np.array(p), np.array(s)

    t_ours, (p, s) = _best(ours, args.repeats)
    t_sk, (rp, rs) = _best(skimage_loop, args.repeats)
    print(f"PSNR+SSIM medgan.metrics : {t_ours * 1000:8.1f} ms  ({len(clean) / t_ours:7.1f} slices/s)")
    print(f"PSNR+SSIM skimage loop   : {t_sk * 1000:8.1f} ms  ({len(clean) / t_sk:7.1f} slices/s)")
    print(f"speed-up                 : {t_sk / t_ours:8.2f}×  (target ≥ 3×)  "
          f"{'PASS' if t_sk / t_ours >= 3 else 'MISS'}")
    print(f"max |Δ| vs skimage       : PSNR {np.abs(p.numpy() - rp).max():.2e} dB, SSIM {np.abs(s.numpy() - rs).max():.2e}")

    try:
        from medgan.metrics import medgan_features

        ex = medgan_features("unet_segmentation")
        src = "unet_segmentation checkpoint"
    except Exception as exc:  # no checkpoint: same architecture, random weights (speed only)
        from medgan.models.registry import build_generator

        ex = EncoderFeatures(build_generator("unet", in_channels=1, num_classes=4, base=16, depth=4), 256)
        src = f"random-init U-Net ({exc.__class__.__name__})"
    batch = clean[:64]
    t_f, f = _best(lambda: ex(batch), args.repeats)
    print(f"FD-medgan features ({src}): {len(batch) / t_f:7.1f} images/s at {ex.image_size} px, "
          f"D = {f.shape[1]}")


if __name__ == "__main__":
    main()
