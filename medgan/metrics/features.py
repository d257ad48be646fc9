"""Feature extractors for Fréchet distance and KID, each carrying the metric names its numbers must be reported
under, so in-domain "FD-medgan" is never confused with ImageNet "FID".

- :class:`EncoderFeatures` ("FD-medgan", default): global-average-pooled deepest features of the encoder of the
  bundled segmentation U-Net (``unet_segmentation``; its module exposes ``encode(x)``). Built by
  :func:`medgan_features`.
- :class:`InceptionFeatures` ("FID"): InceptionV3 pool3 (2048-D), the standard TF-ported weights
  (``pt_inception-2015-12-05-6726825d.pth``, as used by torch-fidelity / torchmetrics / pytorch-fid). Only used
  when the user gives the weights file (argument or ``MEDGAN_FID_WEIGHTS``); nothing is downloaded.

Extractors take images (N, H, W) or (N, 1, H, W) in [0, 1] and return float32 features (N, D).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from medgan.inference import load_model
from medgan.metrics.distribution import frechet_distance, kid
from medgan.metrics.image import as_image_batch

logger = logging.getLogger(__name__)

__all__ = ["EncoderFeatures", "InceptionFeatures", "medgan_features", "inception_features",
           "distribution_metrics", "FID_WEIGHTS_ENV", "FID_WEIGHTS_FILE"]

FID_WEIGHTS_ENV = "MEDGAN_FID_WEIGHTS"
FID_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"


@dataclass
class EncoderFeatures:
    """In-domain features: ``module.encode(x)`` on images in [-1, 1] at ``image_size``. ``encode`` may return
    pooled features (N, D) (used as they are) or feature maps (N, C, h, w) or a list of them (the last, deepest,
    one is global-average-pooled to (N, C))."""

    module: nn.Module
    image_size: int
    source: str = "unet_segmentation"
    fd_name: str = "FD-medgan"
    kid_name: str = "KID-medgan"
    batch_size: int = 32
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not callable(getattr(self.module, "encode", None)):
            raise ValueError(f"feature module {type(self.module).__name__} has no encode(x) method; "
                             "use a segmentation U-Net from the 'unet' registry entry")

    @torch.no_grad()
    def __call__(self, images: Tensor | np.ndarray) -> Tensor:
        x, _ = as_image_batch(images, "images")
        self.module.eval()
        out = []
        for i in range(0, x.shape[0], self.batch_size):
            b = x[i : i + self.batch_size].to(self.device)
            if b.shape[-1] != self.image_size or b.shape[-2] != self.image_size:
                b = F.interpolate(b, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False,
                                  antialias=True)
            feats = self.module.encode(b * 2 - 1)
            if isinstance(feats, (list, tuple)):
                feats = feats[-1]
            if feats.ndim == 4:
                feats = feats.mean(dim=(-2, -1))
            out.append(feats.float().reshape(feats.shape[0], -1).cpu())
        return torch.cat(out)


@dataclass
class InceptionFeatures:
    """InceptionV3 pool3 features (2048-D) with the standard FID weights; grey → 3 channels, uint8 [0, 255],
    resized to 299×299 by the network's TF-compatible bilinear resize (torch-fidelity's, the FID standard)."""

    weights_path: str | Path
    fd_name: str = "FID"
    kid_name: str = "KID"
    source: str = "InceptionV3 (pt_inception-2015-12-05)"
    batch_size: int = 32
    device: str = "cpu"
    _net: nn.Module | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        path = Path(self.weights_path)
        if not path.is_file():
            raise FileNotFoundError(f"InceptionV3 FID weights not found at {path}. FID needs the standard file "
                                    f"{FID_WEIGHTS_FILE} (torch-fidelity / pytorch-fid release); set "
                                    f"{FID_WEIGHTS_ENV} or pass its path. Nothing is downloaded; use the "
                                    "in-domain 'FD-medgan' instead.")
        try:
            from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
        except ImportError as exc:
            raise ImportError("FID needs the 'torch-fidelity' package (pip install torch-fidelity); "
                              "the in-domain 'FD-medgan' needs nothing extra") from exc
        self._net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                                feature_extractor_weights_path=str(path)).to(self.device).eval()

    @torch.no_grad()
    def __call__(self, images: Tensor | np.ndarray) -> Tensor:
        x, _ = as_image_batch(images, "images")
        out = []
        for i in range(0, x.shape[0], self.batch_size):
            b = (x[i : i + self.batch_size].clamp(0, 1) * 255).round().to(torch.uint8).repeat(1, 3, 1, 1)
            feats = self._net(b.to(self.device))
            out.append((feats[0] if isinstance(feats, (list, tuple)) else feats).float().reshape(b.shape[0], -1).cpu())
        return torch.cat(out)


def medgan_features(name: str = "unet_segmentation", device: str = "cpu", batch_size: int = 32) -> EncoderFeatures:
    """The default in-domain extractor: the encoder of a bundled segmentation checkpoint (via medgan.inference)."""

    loaded = load_model(name, device=device)
    return EncoderFeatures(loaded.module, int(loaded.card.image_size), source=name, batch_size=batch_size,
                           device=device)


def inception_features(weights_path: str | Path | None = None, device: str = "cpu") -> InceptionFeatures:
    """InceptionV3 FID extractor from ``weights_path`` or the ``MEDGAN_FID_WEIGHTS`` environment variable."""
    path = weights_path or os.environ.get(FID_WEIGHTS_ENV)
    if not path:
        raise FileNotFoundError(f"FID needs the standard InceptionV3 weights file {FID_WEIGHTS_FILE}: pass its "
                                f"path or set {FID_WEIGHTS_ENV}. Nothing is downloaded; the in-domain "
                                "'FD-medgan' needs no extra file.")
    return InceptionFeatures(path, device=device)


def distribution_metrics(real_feats: Tensor, fake_feats: Tensor, extractor: EncoderFeatures | InceptionFeatures,
                         kid_subsets: int = 50, kid_subset_size: int = 1000, seed: int = 0) -> dict[str, float]:
    """FD and KID (mean, std) between two feature sets, keyed by the extractor's metric names, e.g.
    ``{"FD-medgan": ..., "KID-medgan": ..., "KID-medgan_std": ...}``."""
    fd = float(frechet_distance(real_feats, fake_feats))
    k_mean, k_std = kid(real_feats, fake_feats, subsets=kid_subsets, subset_size=kid_subset_size, seed=seed)
    return {extractor.fd_name: fd, extractor.kid_name: float(k_mean), f"{extractor.kid_name}_std": float(k_std)}
