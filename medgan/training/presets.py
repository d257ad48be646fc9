"""Default configuration per (task, arch): model arguments, loss weights, optimiser. The CLI starts from these
and applies its overrides. ``PRESETS`` is the registry of the conditional families; the generation family's presets are
:data:`medgan.training.unconditional.GENERATION_PRESETS`, reached through the same :func:`make_config`."""

from __future__ import annotations

from collections.abc import Callable

from medgan.training.config import ModelConfig, OptimConfig, TrainConfig
from medgan.training.family_generation import generation_archs, make_generation_config

PresetFn = Callable[[int, int, bool, "str | None"], TrainConfig]


def _spade(task: str) -> PresetFn:
    def make(size: int, k: int, sn: bool, degradation: str | None) -> TrainConfig:
        cin = k if task == "synthesis" else 2 + k
        g = ModelConfig("spade", {"label_nc": cin, "out_channels": 1, "ngf": 16, "max_channels": 128,
                                  "image_size": size, "spade_hidden": 32, "spectral_norm": True})
        d = ModelConfig("multiscale_patchgan", {"in_channels": cin + 1, "ndf": 32, "num_d": 2 if size >= 128 else 1,
                                                "spectral_norm": True})
        return TrainConfig(task, "spade", "spade", g, d, OptimConfig(adv_loss="hinge", lr_g=2e-4, lr_d=2e-4,
                                                                     lambda_fm=10.0, lambda_l1=100.0))
    return make


def _pix2pix(task: str) -> PresetFn:
    def make(size: int, k: int, sn: bool, degradation: str | None) -> TrainConfig:
        cin = {"synthesis": k, "inpainting": 2 + k, "segmentation": 1, "enhancement": 1}[task]
        cout = k if task == "segmentation" else 1
        g = ModelConfig("pix2pix", {"in_channels": cin, "out_channels": cout, "ngf": 32, "max_channels": 128,
                                    "image_size": size, "spectral_norm": sn,
                                    "out_activation": "none" if task == "segmentation" else "tanh"})
        d = ModelConfig("patchgan", {"in_channels": cin + cout, "ndf": 32, "spectral_norm": sn})
        return TrainConfig(task, "pix2pix", "adversarial", g, d, OptimConfig(adv_loss="bce"))
    return make


def _unet(size: int, k: int, sn: bool, degradation: str | None) -> TrainConfig:
    g = ModelConfig("unet", {"in_channels": 1, "num_classes": k, "base": 16, "depth": 4})
    return TrainConfig("segmentation", "unet", "supervised", g, None,
                       OptimConfig(lr_g=1e-3, betas=(0.9, 0.999), lambda_dice=1.0))


def _wgangp(size: int, k: int, sn: bool, degradation: str | None) -> TrainConfig:
    g = ModelConfig("resunet", {"in_channels": 1, "out_channels": 1, "ngf": 16, "depth": 4, "spectral_norm": sn})
    d = ModelConfig("critic", {"in_channels": 2, "ndf": 32, "n_layers": 4})
    opt = OptimConfig(optimizer="rmsprop", lr_g=5e-5, lr_d=5e-5, adv_loss="wgan", lambda_gp=10.0, lambda_l1=100.0,
                      n_critic=2, lambda_adv=1.0)
    return TrainConfig("enhancement", "wgangp", "wgangp", g, d, opt)


PRESETS: dict[tuple[str, str], PresetFn] = {
    ("synthesis", "spade"): _spade("synthesis"),
    ("inpainting", "spade"): _spade("inpainting"),
    ("synthesis", "pix2pix"): _pix2pix("synthesis"),
    ("inpainting", "pix2pix"): _pix2pix("inpainting"),
    ("segmentation", "pix2pix"): _pix2pix("segmentation"),
    ("enhancement", "pix2pix"): _pix2pix("enhancement"),
    ("segmentation", "unet"): _unet,
    ("enhancement", "wgangp"): _wgangp,
}


def make_config(task: str, arch: str, image_size: int = 256, num_classes: int = 4, spectral_norm: bool = False,
                degradation: str | None = None) -> TrainConfig:
    """The preset TrainConfig for ``(task, arch)``; ValueError listing the valid pairs otherwise."""
    if task == "generation":
        if arch not in generation_archs():
            raise ValueError(f"no architecture {arch!r} for task 'generation'; valid: {', '.join(generation_archs())}")
        cfg = make_generation_config(arch, image_size, num_classes)
        cfg.data.image_size = image_size
        return cfg
    try:
        fn = PRESETS[(task, arch)]
    except KeyError:
        valid = ", ".join(f"{t}/{a}" for t, a in sorted(PRESETS)) + ", generation/<dcgan|lsgan|hingegan|wgangp|stylegan>"
        raise ValueError(f"no architecture {arch!r} for task {task!r}; valid task/arch pairs: {valid}") from None
    cfg = fn(image_size, num_classes, spectral_norm, degradation)
    cfg.data.image_size = image_size
    cfg.data.degradation = degradation
    if task == "enhancement" and degradation is None:
        raise ValueError("enhancement needs --degradation: denoise, sr4 or deblur")
    return cfg
