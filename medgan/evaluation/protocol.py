"""The empirical-study protocol.

Generation (the empirical study's Table 2), per unconditional GAN: sample N image + label pairs; train the
downstream U-Net on synthetic pairs only and on real + synthetic; report its Dice on the real test slices beside
the baselines "original data" and "original data + classic augmentation"; Fréchet distance and KID to the real
training slices (in-domain features unless FID weights are given); classifier two-sample AUC; and the agreement
between each sample's generated label map and the segmentation of its image.

Conditional tasks (the comparative study's table), per task and checkpoint, on the held-out test slices through
:mod:`medgan.tasks`: PSNR, SSIM (whole image; inside the hole for inpainting), FD to the real test slices, and
Dice (synthesis: seg(output) vs the input labels; inpainting / enhancement: seg(output) vs seg(original);
segmentation: prediction vs the reference labels).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from medgan import tasks
from medgan.data import corruptions
from medgan.evaluation.config import EvalConfig
from medgan.evaluation.downstream import (
    EvalData,
    downstream_dice,
    predict_labels,
    resize_images,
    resize_labels,
    train_unet,
)
from medgan.evaluation.models import CONDITIONAL_TASKS, ModelEntry, installed_segmenter, models_for
from medgan.metrics import (
    EncoderFeatures,
    InceptionFeatures,
    dice_per_class,
    distribution_metrics,
    finite_psnr,
    frechet_distance,
    inception_features,
    psnr,
    ssim,
    two_sample_auc,
)

logger = logging.getLogger(__name__)


class Segmenter:
    """Images (N, H, W) in [0, 1] → label maps uint8 (N, H, W) with a U-Net working at ``image_size``."""

    def __init__(self, net: nn.Module, image_size: int, name: str, device: str = "cpu") -> None:
        self.net, self.image_size, self.name, self.device = net.eval(), image_size, name, device

    def __call__(self, images: np.ndarray | Tensor) -> np.ndarray:
        x = resize_images(images, self.image_size)
        h, w = (images.shape[-2], images.shape[-1])
        lab = predict_labels(self.net, x, self.device)
        if (h, w) != (self.image_size, self.image_size):
            lab = torch.nn.functional.interpolate(lab[:, None].float(), size=(h, w), mode="nearest")[:, 0].long()
        return lab.numpy().astype(np.uint8)


@dataclass
class Context:
    """Shared state of one evaluation run."""

    cfg: EvalConfig
    data: EvalData
    extractor: EncoderFeatures | InceptionFeatures
    segmenter: Segmenter
    extra_extractors: list[InceptionFeatures] = field(default_factory=list)
    real_feats: dict[str, Tensor] = field(default_factory=dict)
    test_feats: dict[str, Tensor] = field(default_factory=dict)
    samples: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    cond_examples: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = field(default_factory=dict)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)

    def extractors(self) -> list[EncoderFeatures | InceptionFeatures]:
        return [self.extractor, *self.extra_extractors]


def _fg_mean(per_class: Tensor) -> float:
    return float(torch.nanmean(per_class))


def build_context(cfg: EvalConfig, data: EvalData, baseline: nn.Module | None) -> Context:
    """Choose the feature extractor and segmenter: the bundled ``unet_segmentation`` (FD-medgan) when asked for
    and installed, else the baseline U-Net trained in this run (reported as FD-baseline-unet)."""
    size = cfg.image_size
    seg_loaded = installed_segmenter(cfg.device) if cfg.features == "checkpoint" else None
    if seg_loaded is not None:
        card_size = int(tasks.card_value(seg_loaded.card, "image_size", 256))
        extractor: EncoderFeatures | InceptionFeatures = EncoderFeatures(seg_loaded.module, card_size,
                                                                         device=cfg.device)
        segmenter = Segmenter(seg_loaded.module, card_size, "unet_segmentation", cfg.device)
    else:
        if cfg.features == "checkpoint":
            logger.warning("unet_segmentation is not installed: FD uses the baseline U-Net trained in this run")
        if baseline is None:
            raise ValueError("no segmentation U-Net available for features")
        extractor = EncoderFeatures(baseline, size, source="baseline U-Net trained in this run",
                                    fd_name="FD-baseline-unet", kid_name="KID-baseline-unet", device=cfg.device)
        segmenter = Segmenter(baseline, size, "baseline U-Net (this run)", cfg.device)
    extra = [inception_features(cfg.fid_weights, cfg.device)] if cfg.fid_weights else []
    ctx = Context(cfg, data, extractor, segmenter, extra)
    for ex in ctx.extractors():
        if cfg.generation:  # generation compares at the protocol's size: same resampling for real and generated
            ctx.real_feats[ex.fd_name] = ex(resize_images(data.train_images, size))
        if cfg.conditional:
            ctx.test_feats[ex.fd_name] = ex(data.test_images)
    return ctx


@torch.no_grad()
def sample_pairs(entry: ModelEntry, n: int, seed: int, device: str = "cpu",
                 batch_size: int = 64) -> tuple[Tensor, Tensor]:
    """``n`` joint samples of a generation model: images float32 (n, S, S) in [0, 1], labels int64 (n, S, S)."""
    z_dim = int(tasks.card_value(entry.card, "z_dim", None) or getattr(entry.module, "z_dim", 128))
    gen = torch.Generator().manual_seed(seed)
    imgs, labs = [], []
    for i in range(0, n, batch_size):
        z = torch.randn(min(batch_size, n - i), z_dim, generator=gen).to(device)
        out = entry.module(z).float().cpu()
        imgs.append((out[:, 0].clamp(-1, 1) + 1) / 2)
        labs.append(out[:, 1:].argmax(1))
    return torch.cat(imgs), torch.cat(labs)


def run_baselines(cfg: EvalConfig, data: EvalData) -> tuple[list[dict[str, Any]], nn.Module]:
    """Downstream U-Net on the real training slices, without and with classic augmentation."""
    size, k = cfg.image_size, data.num_classes
    x, y = resize_images(data.train_images, size), resize_labels(data.train_labels, size)
    tx, ty = resize_images(data.test_images, size), resize_labels(data.test_labels, size)
    rows, nets = [], []
    for label, aug in (("original data", False), ("original data + classic augmentation", True)):
        t0 = time.time()
        net = train_unet(x, y, cfg.downstream, k, seed=cfg.seed, augment_data=aug, device=cfg.device)
        mean, per = downstream_dice(net, tx, ty, k, cfg.device)
        rows.append({"section": "generation", "model": label, "kind": "baseline", "n_real": len(x),
                     "n_synthetic": 0, "dice_downstream": mean, **{f"dice {n}": v for n, v in zip(data.class_names[1:], per)},
                     "seconds": round(time.time() - t0, 1)})
        nets.append(net)
        logger.info("baseline %s: downstream Dice %.3f", label, mean)
    return rows, nets[0]


def run_generation(ctx: Context) -> list[dict[str, Any]]:
    """One row per generation model (see the module notes)."""
    cfg, data = ctx.cfg, ctx.data
    size, k = cfg.image_size, data.num_classes
    x, y = resize_images(data.train_images, size), resize_labels(data.train_labels, size)
    tx, ty = resize_images(data.test_images, size), resize_labels(data.test_labels, size)
    rows = []
    ref = {"section": "generation", "model": "real test slices (reference)", "kind": "reference",
           "n_synthetic": len(data.test_images)}
    for ex in ctx.extractors():
        ref[ex.fd_name] = float(frechet_distance(ctx.real_feats[ex.fd_name], ex(tx)))
    rows.append(ref)
    for entry in models_for("generation", cfg.models, size, cfg.device, cfg.seed, cfg.only):
        t0 = time.time()
        logger.info("generation: %s (%d samples)", entry.name, cfg.n_samples)
        imgs, labs = sample_pairs(entry, cfg.n_samples, cfg.seed, cfg.device)
        ctx.samples[entry.name] = (imgs[: cfg.grid_samples].numpy(), labs[: cfg.grid_samples].numpy())
        ctx.checkpoints.append(entry.info)
        row: dict[str, Any] = {"section": "generation", "model": entry.name, "kind": "gan",
                               "family": entry.info.get("family"), "n_real": len(x), "n_synthetic": len(imgs),
                               "sample_size": int(imgs.shape[-1])}
        sx, sy = resize_images(imgs, size), resize_labels(labs, size)
        for ex in ctx.extractors():
            feats = ex(sx)
            row.update(distribution_metrics(ctx.real_feats[ex.fd_name], feats, ex, cfg.kid_subsets,
                                            cfg.kid_subset_size, cfg.seed))
        row["two_sample_auc"] = two_sample_auc(data.train_images, imgs[: len(data.train_images)], seed=cfg.seed,
                                               epochs=cfg.auc_epochs, image_size=cfg.auc_size, device=cfg.device)
        n_agree = min(len(imgs), 64)
        seg = ctx.segmenter(imgs[:n_agree])
        row["label_agreement_dice"] = _fg_mean(dice_per_class(seg, labs[:n_agree], k))
        net = train_unet(sx, sy, cfg.downstream, k, seed=cfg.seed, device=cfg.device)
        row["dice_synthetic_only"], per_s = downstream_dice(net, tx, ty, k, cfg.device)
        net = train_unet(torch.cat([x, sx]), torch.cat([y, sy]), cfg.downstream, k, seed=cfg.seed,
                         device=cfg.device)
        row["dice_real_plus_synthetic"], per_rs = downstream_dice(net, tx, ty, k, cfg.device)
        row["dice_downstream"] = row["dice_synthetic_only"]
        for n, a, b in zip(data.class_names[1:], per_s, per_rs):
            row[f"dice {n}"] = a
            row[f"dice real+synthetic {n}"] = b
        row["seconds"] = round(time.time() - t0, 1)
        logger.info("generation %s: %s", entry.name, {kk: v for kk, v in row.items() if isinstance(v, float)})
        rows.append(row)
    return rows


def _hole(labels: np.ndarray, seed: int) -> np.ndarray:
    return corruptions.square_hole(labels.shape, rng=np.random.default_rng(seed), within=labels > 0)


def _run_one(entry: ModelEntry, img: np.ndarray, lab: np.ndarray, seed: int,
             with_labels: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """(output image or labels, what the model saw, hole mask or None, reference image) for one test slice."""
    if entry.task == "synthesis":
        r = tasks.synthesize(lab, entry.loaded, seed=seed, reference=img)
        return r.output, r.input_display, None, img
    if entry.task == "inpainting":
        hole = _hole(lab, seed)
        r = tasks.inpaint(img, hole, entry.loaded, labels=lab if with_labels else None, seed=seed)
        return r.output, r.input_display, hole, img
    if entry.task == "segmentation":
        r = tasks.segment(img, entry.loaded, reference_labels=lab)
        return r.labels, img, None, img
    if entry.task == "enhancement":
        r = tasks.enhance(img, entry.loaded, degrade=True, seed=seed)
        return r.output, r.input_display, None, img
    raise ValueError(f"unknown conditional task {entry.task!r}; valid: {', '.join(CONDITIONAL_TASKS)}")


def _limit(data: EvalData, n: int) -> tuple[np.ndarray, np.ndarray]:
    if n and n < len(data.test_images):
        return data.test_images[:n], data.test_labels[:n]
    return data.test_images, data.test_labels


def evaluate_conditional(ctx: Context, entry: ModelEntry) -> dict[str, Any]:
    """Metrics of one conditional model over the test slices."""
    cfg, k = ctx.cfg, ctx.data.num_classes
    images, labels = _limit(ctx.data, cfg.max_test_slices)
    t0 = time.time()
    outs, shown, holes = [], [], []
    for i, (img, lab) in enumerate(zip(images, labels)):
        out, inp, hole, _ = _run_one(entry, img, lab, cfg.seed + i, cfg.inpaint_with_labels)
        outs.append(out)
        shown.append(inp)
        holes.append(hole)
    out = np.stack(outs)
    row: dict[str, Any] = {"section": "conditional", "task": entry.task, "model": entry.name,
                           "family": entry.info.get("family"), "n_test": len(out)}
    if entry.task == "segmentation":
        per = dice_per_class(out, labels, k)
        row["dice"] = _fg_mean(per)
        row.update({f"dice {n}": float(v) for n, v in zip(ctx.data.class_names[1:], per)})
        disp = out.astype(np.float32) / max(k - 1, 1)
    else:
        row["psnr"] = float(finite_psnr(psnr(out, images)).mean())
        row["ssim"] = float(ssim(out, images).mean())
        if entry.task == "inpainting":
            m = np.stack(holes)
            row["hole_psnr"] = float(finite_psnr(psnr(out, images, mask=m)).mean())
            row["hole_ssim"] = float(ssim(out, images, mask=m).mean())
        if entry.task == "enhancement":
            deg = np.stack(shown)
            row["degradation"] = tasks.card_value(entry.card, "degradation")
            row["input_psnr"] = float(finite_psnr(psnr(deg, images)).mean())
            row["input_ssim"] = float(ssim(deg, images).mean())
        seg_out = ctx.segmenter(out)
        ref = labels if entry.task == "synthesis" else ctx.segmenter(images)
        row["dice"] = _fg_mean(dice_per_class(seg_out, ref, k))
        for ex in ctx.extractors():
            if len(out) >= 2:
                row[ex.fd_name] = float(frechet_distance(ctx.test_feats[ex.fd_name], ex(out)))
        disp = out
    n_show = min(4, len(out))
    ctx.cond_examples[entry.name] = [(np.asarray(shown[i], dtype=np.float32), disp[i], images[i])
                                     for i in range(n_show)]
    row["seconds"] = round(time.time() - t0, 1)
    logger.info("%s %s: %s", entry.task, entry.name, {kk: v for kk, v in row.items() if isinstance(v, float)})
    return row


def run_conditional(ctx: Context) -> list[dict[str, Any]]:
    """One row per conditional model over the tasks of :data:`CONDITIONAL_TASKS`."""
    cfg = ctx.cfg
    rows = []
    for task in CONDITIONAL_TASKS:
        for entry in models_for(task, cfg.models, ctx.data.test_images.shape[-1], cfg.device, cfg.seed, cfg.only):
            ctx.checkpoints.append(entry.info)
            rows.append(evaluate_conditional(ctx, entry))
    return rows
