"""A generation model's quality readout on a fixed sample set, before (the parent) and after a fine-tune.

The same ``n`` latent vectors (seed :data:`SEED`) go through each generator; the numbers are
- ``fd_medgan``: Fréchet distance between the encoder features of the bundled ``unet_segmentation`` U-Net
  (:func:`medgan.metrics.features.medgan_features`) of the generated images and of the run's training images
  (lower = closer to the data);
- ``label_agreement``: mean Dice over the tissue classes between the U-Net's segmentation of each generated
  image and the label map generated with it (agreement with the model's own labels, not accuracy);
- ``diversity_l1``: mean pairwise L1 ([0, 1] units) between generated images (0 = all alike, a collapse).
FD from a few dozen samples moves with the draw; with the same draw for both models the difference is what the
fine-tune changed. Training time: a few seconds at 64 px on a CPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from medgan.metrics.distribution import frechet_distance
from medgan.metrics.features import medgan_features

SEED = 2026
SAMPLES = 64
FEATURES = "unet_segmentation"


def _mean_dice(pred: Tensor, target: Tensor, k: int) -> float:
    scores = []
    for c in range(1, k):
        p, t = pred == c, target == c
        den = int(p.sum() + t.sum())
        if den:
            scores.append(float(2 * (p & t).sum()) / den)
    return sum(scores) / max(1, len(scores))


@torch.no_grad()
def _segment(seg: nn.Module, img01: Tensor, seg_size: int) -> Tensor:
    """U-Net labels (N, S, S) of images (N, 1, S, S) in [0, 1], run at the U-Net's size."""
    s, out = img01.shape[-1], []
    for i in range(0, len(img01), 16):
        x = F.interpolate(img01[i:i + 16], size=(seg_size, seg_size), mode="bilinear", align_corners=False)
        out.append(F.interpolate(seg(x * 2 - 1).softmax(1), size=(s, s), mode="area").argmax(1))
    return torch.cat(out)


@torch.no_grad()
def readout(generators: dict[str, nn.Module], z_dim: int, reference: Tensor, n: int = SAMPLES,
            seed: int = SEED) -> dict[str, dict[str, float]]:
    """Readout per named generator (each ``forward(z) -> (N, 1 + K, H, W)``) against ``reference`` real images
    (N, 1, H, W) in [0, 1], on the CPU."""
    feat = medgan_features(FEATURES)
    seg, seg_size = feat.module, int(feat.image_size)
    ref_feats = feat(reference.float().cpu())
    z = torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))
    results: dict[str, dict[str, float]] = {}
    for name, g in generators.items():
        was_training = g.training
        g.eval()
        try:
            device = next(g.parameters()).device
            out = torch.cat([g(z[i:i + 32].to(device)).float().cpu() for i in range(0, n, 32)])
        finally:
            g.train(was_training)
        img = (out[:, :1].clamp(-1, 1) + 1) / 2
        flat = img.flatten(1)
        m = min(64, n)
        pair = torch.cdist(flat[:m], flat[:m], p=1) / flat.shape[1]
        results[name] = {
            "fd_medgan": round(float(frechet_distance(ref_feats, feat(img))), 4),
            "label_agreement": round(_mean_dice(_segment(seg, img, seg_size), out[:, 1:].argmax(1), out.shape[1] - 1), 4),
            "diversity_l1": round(float(pair.sum() / (m * (m - 1))), 4),
            "samples": n, "seed": seed,
        }
    return results
