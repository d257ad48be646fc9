"""Metrics: pure functions over tensors (NumPy arrays accepted).

- image fidelity: :func:`psnr` (``inf`` for identical images; :func:`finite_psnr` caps it), :func:`ssim`,
  :func:`ms_ssim`, optionally restricted to a region ``mask``;
- segmentation: :func:`dice_per_class`, :func:`iou_per_class`, :func:`mean_dice`, :func:`mean_iou`,
  :func:`hausdorff95` (empty-class convention in :mod:`medgan.metrics.segmentation`);
- distributions: :func:`frechet_distance`, :func:`kid` over features from :func:`medgan_features`
  ("FD-medgan", default, in-domain) or :func:`inception_features` ("FID", needs the standard weights file);
- :func:`two_sample_auc`: classifier two-sample test (0.5 = indistinguishable).
"""

from __future__ import annotations

from medgan.metrics.distribution import feature_stats, frechet_distance, frechet_from_stats, kid
from medgan.metrics.features import (
    FID_WEIGHTS_ENV,
    EncoderFeatures,
    InceptionFeatures,
    distribution_metrics,
    inception_features,
    medgan_features,
)
from medgan.metrics.image import as_image_batch, finite_psnr, ms_ssim, psnr, ssim, ssim_map
from medgan.metrics.segmentation import (
    confusion_counts,
    dice_per_class,
    hausdorff95,
    iou_per_class,
    mean_dice,
    mean_iou,
)
from medgan.metrics.two_sample import roc_auc, two_sample_auc

__all__ = [
    "FID_WEIGHTS_ENV", "EncoderFeatures", "InceptionFeatures", "as_image_batch", "confusion_counts",
    "dice_per_class", "distribution_metrics", "feature_stats", "finite_psnr", "frechet_distance",
    "frechet_from_stats", "hausdorff95", "inception_features", "iou_per_class", "kid", "mean_dice", "mean_iou",
    "medgan_features", "ms_ssim", "psnr", "roc_auc", "ssim", "ssim_map", "two_sample_auc",
]
