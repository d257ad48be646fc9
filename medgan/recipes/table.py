"""The retraining recipe as data: one row per bundled checkpoint (task, arch, flags, batch and steps per profile,
image size), and the profiles (device, precision, time box, concurrency). ``python -m medgan train-all`` turns a
row and a profile into one ``python -m medgan train`` command (:func:`train_args`).

Conditional models train on domain-randomised slices (``--augment --randomise 0.2``; inpainting adds random
boxes up to 96 px, the biharmonic pre-fill, label dropout and stroke holes), the runs in use on the CPU. The
unconditional generators train at 128 px: on the GPU from scratch, on the CPU grown from the bundled 64 px
checkpoint (:mod:`medgan.training.progressive`), which is the cheaper way there.

GPU step budgets: ``gpu_it_s`` per row, iterations/s expected on a 16-core H200 machine with all fourteen runs at
once (each a process with one CPU thread). The conditional runs are bound by their CPU data pipeline (domain
randomisation, holes, degradations at 256 px, one sample after another in the main process), measured here per
batch on one contested CPU core (spade_synthesis 1.7 s per batch of 16, pix2pix_synthesis 1.1 s, spade_inpainting
2.4 s, pix2pix_inpainting 5.1 s, pix2pix_segmentation 1.9 s, unet_segmentation 5.3 s per 32, wgangp_denoise / sr4 /
deblur 3.1 / 4.0 / 3.4 s per 32; generation 0.09 s per 64) and assumed 2.5× faster on an idle core; the
generation runs are bound by the GPU step (estimated). The time box (``train_seconds``) is what guarantees the
wall time: a run still going at its deadline is stopped cleanly (``OUT/STOP``: finish the step, checkpoint) and its
card says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from medgan.training.cpu_bf16 import cpu_has_fast_bf16

RANDOMISE: tuple[str, ...] = ("--augment", "--randomise", "0.2")
INPAINT: tuple[str, ...] = (*RANDOMISE, "--hole-max", "96", "--input-fill", "biharmonic", "--label-dropout", "0.6",
                            "--stroke-holes", "0.3")
GEN: tuple[str, ...] = ("--ema-decay", "0.999", "--lr-decay-start", "0.6")


@dataclass(frozen=True)
class Profile:
    """How a whole retraining runs: device, extra flags, time box per model, models at once, report sizes."""

    name: str
    device: str  # "cuda" | "cpu"
    flags: tuple[str, ...]  # added to every command (precision)
    train_seconds: float  # time box of each training (0 = none)
    jobs: int  # trainings at once
    cadence: int  # --sample-every / --ckpt-every
    quality_samples: int  # generation_quality --samples
    quality_seeds: int
    quality_max_slices: int  # benchmarks/quality.py --max-slices (0 = all test slices; FD-medgan needs ≥ 2)
    progressive: bool  # generation: grow the bundled 64 px checkpoint instead of training from scratch
    threads: int = 1  # OMP_NUM_THREADS per training process
    image_size: int | None = None  # every model at this size instead of the table's (smoke: small and quick)
    auc_epochs: int = 30  # epochs of each fold's classifier in the two-sample test
    drop_flags: tuple[str, ...] = ()  # table flags (with their value) left out under this profile
    quality_threads: int = 1  # torch threads of benchmarks/quality.py (the trainings are over by then)
    summary: str = ""


PROFILES: dict[str, Profile] = {
    "gpu": Profile("gpu", "cuda", (), train_seconds=300, jobs=15, cadence=1000, quality_samples=128, quality_seeds=2,
                   quality_max_slices=0, progressive=False, threads=1, quality_threads=8,
                   summary="one CUDA GPU, bf16, every model at once, ≤ 10 min wall time in all"),
    "cpu": Profile("cpu", "cpu", ("--amp-cpu",) if cpu_has_fast_bf16() else (), train_seconds=0, jobs=1,
                   cadence=250, quality_samples=128, quality_seeds=3, quality_max_slices=0, progressive=True, threads=0,
                   summary="the long CPU recipe (bf16 where the CPU has it natively, one model after another; days "
                           "on 2 cores)"),
    "smoke": Profile("smoke", "cpu", (), train_seconds=300, jobs=2, cadence=0, quality_samples=8, quality_seeds=1,
                     quality_max_slices=2, progressive=False, threads=1, image_size=64, auc_epochs=2,
                     drop_flags=("--ema-decay",),  # its BatchNorm re-estimation (1024 samples) would dominate
                     summary="a few steps of each on the CPU: checks that the recipe runs end to end"),
}

@dataclass(frozen=True)
class Recipe:
    """One bundled checkpoint: how it is trained. ``batch`` and ``steps`` per profile; ``flags`` for every profile,
    ``cpu_flags`` / ``gpu_flags`` for one only."""

    name: str
    task: str
    arch: str
    image_size: int
    batch: dict[str, int]
    steps: dict[str, int]
    flags: tuple[str, ...] = ()
    gpu_flags: tuple[str, ...] = ()
    cpu_flags: tuple[str, ...] = ()
    degradation: str | None = None
    gpu_it_s: float = 1.0  # expected iterations/s under the gpu profile (module docstring)
    primary: tuple[str, bool] = ("", True)  # (metric, higher is better) that decides "beats the bundled one"
    extra: dict[str, str] = field(default_factory=dict)


def _gen(arch: str) -> Recipe:
    style = arch == "stylegan"
    wide = ("--g-arg", "channel_base=1024", "--d-arg", "channel_base=1024") if style else ()
    return Recipe(f"{arch}_generation", "generation", arch, 128,
                  batch={"gpu": 64, "cpu": 8 if style else 16, "smoke": 2},
                  steps={"gpu": 0, "cpu": 8000, "smoke": 2}, flags=GEN, gpu_flags=wide,
                  cpu_flags=("--init-from", f"{arch}_generation"), gpu_it_s=8.0 if style else 12.0,
                  primary=("bars", True))


def _cond(name: str, task: str, arch: str, flags: tuple[str, ...], batch_gpu: int, cpu_steps: int,
          it_s: float, primary: str, degradation: str | None = None, cpu_batch: int = 4) -> Recipe:
    return Recipe(name, task, arch, 256, batch={"gpu": batch_gpu, "cpu": cpu_batch, "smoke": 2},
                  steps={"gpu": 0, "cpu": cpu_steps, "smoke": 2}, flags=flags, degradation=degradation,
                  gpu_it_s=it_s, primary=(primary, True))


ENH = ("--data", "embedded+pydicom", "--crop-size", "64", "--n-critic", "1", "--lr-g", "1e-4", "--lr-d", "1e-4",
       "--augment", "--randomise", "0.4", "--randomise-families", "deform,gamma,bias,background",
       "--lr-decay-start", "0.5")  # real CT/MR/CR slices too: an enhancer must not harm scans it was not made on
RECIPES: tuple[Recipe, ...] = (
    _cond("spade_synthesis", "synthesis", "spade", ("--crop-size", "128", *RANDOMISE, "--lr-decay-start", "0.6"),
          16, 3000, 1.4, "psnr"),
    _cond("pix2pix_synthesis", "synthesis", "pix2pix", ("--augment", "--zero-background", "--lambda-adv", "0",
                                                         "--ema-decay", "0.999", "--lr-decay-start", "0.6"),
          16, 6000, 2.3, "psnr"),  # T1 from labels: no contrast randomisation (the target's contrast is the task)
    _cond("spade_inpainting", "inpainting", "spade", ("--crop-size", "128", *INPAINT, "--lr-decay-start", "0.6"),
          16, 5000, 1.0, "psnr_hole"),
    _cond("pix2pix_inpainting", "inpainting", "pix2pix", (*INPAINT, "--lambda-adv", "0", "--ema-decay", "0.999",
                                                           "--lr-decay-start", "0.6"),
          16, 8000, 0.5, "psnr_hole"),  # reconstruction only: an adversarial fill costs in-hole PSNR
    _cond("pix2pix_segmentation", "segmentation", "pix2pix", (*RANDOMISE, "--lr-decay-start", "0.6"), 16, 3000,
          1.3, "dice_mean"),
    _cond("unet_segmentation", "segmentation", "unet",
          ("--crop-size", "128", "--augment", "--randomise", "0.35", "--zoom-out", "0.6", "--uniform-crops", "0.3",
           "--blank-fraction", "0.05", "--lr-g", "5e-4", "--lr-decay-start", "0.5"), 32, 5000, 0.5, "dice_mean",
          cpu_batch=8),
    _cond("unet_segmentation_robust", "segmentation", "unet",
          ("--crop-size", "128", "--augment", "--randomise", "0.4", "--blank-fraction", "0.05", "--lr-g", "3e-4",
           "--lr-decay-start", "0.5", "--ema-decay", "0.999"), 32, 5000, 0.5, "dice_mean", cpu_batch=8),
    _cond("wgangp_denoise", "enhancement", "wgangp", ENH, 32, 3000, 0.8, "psnr", degradation="denoise"),
    _cond("wgangp_sr4", "enhancement", "wgangp", ENH, 32, 3000, 0.6, "psnr", degradation="sr4"),
    _cond("wgangp_deblur", "enhancement", "wgangp", ENH, 32, 3000, 0.7, "psnr", degradation="deblur"),
    _gen("dcgan"), _gen("lsgan"), _gen("wgangp"), _gen("hingegan"), _gen("stylegan"),
)


def recipe(name: str) -> Recipe:
    """The row called ``name``; ValueError listing the names otherwise."""
    for r in RECIPES:
        if r.name == name:
            return r
    raise ValueError(f"no recipe {name!r}; valid: {', '.join(r.name for r in RECIPES)}")


def planned_steps(r: Recipe, profile: Profile) -> int:
    """Steps of ``r`` under ``profile``: the table's, or (GPU) the estimated throughput × the time box."""
    if r.steps.get(profile.name):
        return int(r.steps[profile.name])
    return max(100, int(r.gpu_it_s * profile.train_seconds) // 50 * 50)


def train_args(r: Recipe, profile: Profile, out: str, steps: int | None = None) -> list[str]:
    """``python -m medgan train`` arguments of recipe ``r`` under ``profile``, writing into ``out``."""
    size = profile.image_size or r.image_size
    flags = list(r.flags)
    for flag in profile.drop_flags:
        if flag in flags:
            i = flags.index(flag)
            del flags[i:i + 2]
    if "--crop-size" in flags and int(flags[flags.index("--crop-size") + 1]) >= size:  # no crops of a small slice
        i = flags.index("--crop-size")
        del flags[i:i + 2]
    args = ["--task", r.task, "--arch", r.arch]
    if r.degradation:
        args += ["--degradation", r.degradation]
    args += ["--image-size", str(size), "--batch-size", str(r.batch[profile.name]),
             "--steps", str(steps or planned_steps(r, profile)), *flags]
    if profile.name == "gpu":
        args += list(r.gpu_flags)
    if profile.progressive:
        args += list(r.cpu_flags)
    every = str(profile.cadence)
    args += [*profile.flags, "--sample-every", every, "--val-every", "0" if r.task == "generation" else every,
             "--ckpt-every", every, "--device", profile.device, "--name", r.name, "--out", out]
    return args
