"""The conditional families' steps (their registry: :mod:`medgan.training.families`). A step takes a
:class:`medgan.training.context.StepContext` and a batch (see :mod:`medgan.training.data`) and returns its
losses as floats.

Families: "adversarial" (Pix2Pix: conditional GAN + L1 λ·100, or CE + Dice λ·10 for segmentation), "spade"
(the same with the multi-scale discriminator's feature-matching loss), "wgangp" (n_critic critic updates with
gradient penalty, then the generator with Wasserstein + L1), "supervised" (plain U-Net: CE + Dice).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from medgan import losses
from medgan.tasks.specs import get_spec
from medgan.training.config import TrainConfig
from medgan.training.context import StepContext, set_requires_grad


def _f(t: Tensor | float) -> float:
    return float(t.detach()) if isinstance(t, Tensor) else float(t)


def _split_logits_feats(out: Tensor | list) -> tuple[list[Tensor], list[list[Tensor]]]:
    """Multi-scale output [[f1, ..., logits], ...] → ([logits per scale], [[features] per scale])."""
    if isinstance(out, Tensor):
        return [out], []
    return [scale[-1] for scale in out], [list(scale[:-1]) for scale in out]


def supervised_seg_loss(logits: Tensor, labels: Tensor, lambda_dice: float) -> Tensor:
    """Cross-entropy + λ·soft Dice. logits (N, K, H, W); labels (N, H, W) int64."""
    return F.cross_entropy(logits.float(), labels) + lambda_dice * losses.soft_dice_loss(logits, labels)


def _generator_view(cfg: TrainConfig, raw: Tensor, batch: dict[str, Tensor]) -> Tensor:
    """What the discriminator sees of the generator's output: softmax probs for segmentation, the composited image
    for inpainting, the image otherwise."""
    if cfg.task == "segmentation":
        return torch.softmax(raw.float(), dim=1)
    return get_spec(cfg.task).composite(raw, batch)


def _reconstruction(cfg: TrainConfig, raw: Tensor, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
    o = cfg.optim
    if cfg.task == "segmentation":
        sup = supervised_seg_loss(raw, batch["labels"], o.lambda_dice)
        return sup, {"seg": _f(sup)}
    if "background" in batch:  # synthesis with zero_background: the loss sees what is used
        raw = get_spec(cfg.task).composite(raw, batch)
    dist = losses.RECONSTRUCTION[o.recon_loss]
    rec = dist(raw, batch["target"])
    if cfg.task == "inpainting":  # the hole is what matters: count it twice
        rec = rec + dist(raw, batch["target"], batch["mask"])
    return o.lambda_l1 * rec, {o.recon_loss: _f(rec)}


def _reconstruction_step(ctx: StepContext, batch: dict[str, Tensor]) -> dict[str, float]:
    """The generator alone on the reconstruction loss (``--lambda-adv 0``): the discriminator is left as it is."""
    ctx.opt_g.zero_grad(set_to_none=True)
    with ctx.autocast():
        rec, rec_log = _reconstruction(ctx.cfg, ctx.generator(batch["input"]), batch)
    rec.backward()
    ctx.opt_g.step()
    return {**rec_log, "g": _f(rec)}


def adversarial_step(ctx: StepContext, batch: dict[str, Tensor]) -> dict[str, float]:
    """Conditional GAN step (Pix2Pix / SPADE): D on (condition, image) pairs, then G with adversarial +
    reconstruction (+ feature matching when the discriminator returns features)."""
    cfg, o = ctx.cfg, ctx.cfg.optim
    adv = losses.get_loss(o.adv_loss)
    g, d = ctx.generator, ctx.discriminator
    assert d is not None and ctx.opt_d is not None
    x, y = batch["input"], batch["target"]
    if o.lambda_adv == 0:
        return _reconstruction_step(ctx, batch)
    with ctx.autocast():
        raw = g(x)
        fake = _generator_view(cfg, raw, batch)
        # discriminator
        set_requires_grad(d, True)
        ctx.opt_d.zero_grad(set_to_none=True)
        real_out = d(torch.cat([x, y], 1))
        fake_out = d(torch.cat([x, fake.detach()], 1))
        real_logits, real_feats = _split_logits_feats(real_out)
        fake_logits, _ = _split_logits_feats(fake_out)
        loss_d = adv.d_loss(real_logits, fake_logits, label_smoothing=o.label_smoothing)
    loss_d.backward()
    ctx.opt_d.step()
    # generator
    set_requires_grad(d, False)
    ctx.opt_g.zero_grad(set_to_none=True)
    with ctx.autocast():
        fake_out = d(torch.cat([x, fake], 1))
        fake_logits, fake_feats = _split_logits_feats(fake_out)
        loss_adv = adv.g_loss(fake_logits)
        rec, rec_log = _reconstruction(cfg, raw, batch)
        loss_g = o.lambda_adv * loss_adv + rec
        logs = {"d": _f(loss_d), "g_adv": _f(loss_adv), **rec_log}
        if fake_feats and o.lambda_fm > 0:
            fm = losses.feature_matching(real_feats, fake_feats)
            loss_g = loss_g + o.lambda_fm * fm
            logs["fm"] = _f(fm)
    loss_g.backward()
    ctx.opt_g.step()
    set_requires_grad(d, True)
    logs["g"] = _f(loss_g)
    return logs


def wgangp_step(ctx: StepContext, batch: dict[str, Tensor]) -> dict[str, float]:
    """WGAN-GP (conditional critic on (degraded, image)): ``n_critic`` critic updates with gradient penalty λ_gp,
    then one generator update with Wasserstein + λ_l1 × the reconstruction term (``recon_loss``)."""
    o = ctx.cfg.optim
    wgan = losses.LOSSES["wgan"]
    g, d = ctx.generator, ctx.discriminator
    assert d is not None and ctx.opt_d is not None
    x, y = batch["input"], batch["target"]
    if o.lambda_adv == 0:  # reconstruction alone: the critic is neither trained nor used
        return _reconstruction_step(ctx, batch)
    set_requires_grad(d, True)
    for _ in range(max(1, o.n_critic)):
        with torch.no_grad(), ctx.autocast():
            fake = g(x)
        ctx.opt_d.zero_grad(set_to_none=True)
        with ctx.autocast():
            loss_w = wgan.d_loss(d(torch.cat([x, y], 1)), d(torch.cat([x, fake.detach()], 1)))
        gp = losses.gradient_penalty(d, y.float(), fake.float(), condition=x.float())
        loss_d = loss_w + o.lambda_gp * gp
        loss_d.backward()
        ctx.opt_d.step()
    set_requires_grad(d, False)
    ctx.opt_g.zero_grad(set_to_none=True)
    with ctx.autocast():
        fake = g(x)
        loss_adv = wgan.g_loss(d(torch.cat([x, fake], 1)))
        rec = losses.RECONSTRUCTION[o.recon_loss](fake, y)
        loss_g = o.lambda_adv * loss_adv + o.lambda_l1 * rec
    loss_g.backward()
    ctx.opt_g.step()
    set_requires_grad(d, True)
    return {"d": _f(loss_d), "wdist": _f(-loss_w), "gp": _f(gp), "g_adv": _f(loss_adv),
            o.recon_loss: _f(rec), "g": _f(loss_g)}


def supervised_step(ctx: StepContext, batch: dict[str, Tensor]) -> dict[str, float]:
    """Plain segmentation: cross-entropy + λ_dice·soft Dice."""
    ctx.opt_g.zero_grad(set_to_none=True)
    with ctx.autocast():
        logits = ctx.generator(batch["input"])
        ce = F.cross_entropy(logits.float(), batch["labels"])
        dice = losses.soft_dice_loss(logits, batch["labels"])
        loss = ce + ctx.cfg.optim.lambda_dice * dice
    loss.backward()
    ctx.opt_g.step()
    return {"ce": _f(ce), "dice_loss": _f(dice), "g": _f(loss)}
