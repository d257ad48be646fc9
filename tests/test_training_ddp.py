"""Data parallelism under torchrun with DistributedDataParallel: the rank-sharded batch sampler, the lazy-R1
decision shared by all ranks, and 2-process CPU (gloo) runs of the generation GANs with a gradient penalty
(WGAN-GP, n_critic 2) and with R1 (StyleGAN): replicas identical after the steps, resume in 2 processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from medgan import checkpoints as ckpt
from tests.conftest import ROOT

torch.set_num_threads(1)

DDP_WRAPPERS = {"generator": "DistributedDataParallel", "discriminator": "DistributedDataParallel"}


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"MEDGAN_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)})
    return env


def _torchrun(args: list[str], tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                        "-m", "medgan", "train", *args], cwd=ROOT, env=_env(tmp_path), capture_output=True,
                       text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]


def _events(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]


def _check_ddp_run(out: Path) -> list[dict]:
    """The run used DistributedDataParallel on 2 gloo ranks, finished, and ended with identical replicas."""
    ev = _events(out)
    starts = [e for e in ev if e["type"] == "start"]
    assert starts and all(s["data_parallel"] == {"backend": "gloo", "world_size": 2, "wrappers": DDP_WRAPPERS}
                          for s in starts)
    assert ev[-1]["type"] == "end" and ev[-1]["status"] == "finished"
    ddp_ev = [e for e in ev if e["type"] == "ddp"]
    assert ddp_ev and ddp_ev[-1]["world_size"] == 2 and ddp_ev[-1]["max_replica_diff"] == 0.0
    return ev


def test_batch_sampler_rank_shares_are_disjoint_and_make_the_global_batch() -> None:
    from medgan.training.config import DataConfig
    from medgan.training.data import BatchSampler, load_slices

    cfg = DataConfig(source="phantoms", image_size=32, num_phantoms=6, batch_size=2, augment=True)
    data = load_slices(cfg, "train")
    one = BatchSampler(data, "inpainting", DataConfig(**{**cfg.__dict__, "batch_size": 4}), 4, seed=3)
    ranks = [BatchSampler(data, "inpainting", cfg, 4, seed=3, rank=r, world=2) for r in range(2)]
    for step in (0, 1, 2):  # step 1 wraps into the second epoch (6 slices, global batch 4)
        idx = ranks[0].global_indices(step)
        assert len(idx) == 4 and (ranks[1].global_indices(step) == idx).all()
        shares = [r.batch(step) for r in ranks]
        whole = one.batch(step)
        for key in whole:
            assert shares[0][key].shape[0] == 2
            assert torch.equal(torch.cat([shares[0][key], shares[1][key]]), whole[key]), key
        assert not torch.equal(shares[0]["input"], shares[1]["input"])


def test_lazy_r1_decision_is_the_same_on_every_rank() -> None:
    from medgan.models.registry import build_discriminator, build_generator
    from medgan.training.family_generation import make_generation_config
    from medgan.training.unconditional import generation_step, get_preset, make_optimizers, r1_due

    p = get_preset("stylegan")
    assert p.step.r1_every > 1
    cfg = make_generation_config("stylegan", 16)
    decisions = {}
    for shared in range(6):
        per_rank = []
        for rank in range(2):  # the loop seeds the global generator per (seed, step, rank)
            torch.manual_seed(100 + shared * 10 + rank)
            g = build_generator(cfg.generator.name, **cfg.generator.args)
            d = build_discriminator(cfg.discriminator.name, **cfg.discriminator.args)
            real = torch.rand(2, 5, 16, 16) * 2 - 1
            logs = generation_step(g, d, *make_optimizers(p, g, d), real, p.step,
                                   shared_rng=torch.Generator().manual_seed(shared))
            per_rank.append("r1" in logs)
        assert per_rank[0] == per_rank[1], shared
        decisions[shared] = per_rank[0]
        assert decisions[shared] == r1_due(p.step, torch.Generator().manual_seed(shared))
    assert set(decisions.values()) == {True, False}  # lazy: applied on some steps only


def test_two_process_wgangp_generation_keeps_replicas_identical_and_resumes(tmp_path: Path) -> None:
    common = ["--task", "generation", "--arch", "wgangp", "--data", "embedded", "--image-size", "16",
              "--batch-size", "2", "--device", "cpu", "--sample-every", "0", "--val-every", "0"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    _torchrun([*common, "--steps", "3", "--out", str(straight)], tmp_path)
    ev = _check_ddp_run(straight)
    assert any("gp" in e["losses"] for e in ev if e["type"] == "step")
    _torchrun([*common, "--steps", "2", "--out", str(resumed)], tmp_path)
    _torchrun([*common, "--steps", "3", "--out", str(resumed), "--resume"], tmp_path)
    ev = _check_ddp_run(resumed)
    assert [e["start_step"] for e in ev if e["type"] == "start"] == [0, 2]
    a = ckpt.load_weights(straight / "model.safetensors")
    b = ckpt.load_weights(resumed / "model.safetensors")
    assert a.keys() == b.keys() and not any(k.split(".")[1] == "module" for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_two_process_stylegan_with_r1_keeps_replicas_identical(tmp_path: Path) -> None:
    from medgan.training.loop import shared_seed
    from medgan.training.unconditional import get_preset, r1_due

    step_cfg = get_preset("stylegan").step
    seed = next(s for s in range(100) if r1_due(step_cfg, torch.Generator().manual_seed(shared_seed(s, 0))))
    out = tmp_path / "sty"
    _torchrun(["--task", "generation", "--arch", "stylegan", "--data", "embedded", "--image-size", "16",
               "--batch-size", "2", "--device", "cpu", "--steps", "3", "--seed", str(seed), "--sample-every", "3",
               "--val-every", "0", "--out", str(out)], tmp_path)
    ev = _check_ddp_run(out)
    first = next(e for e in ev if e["type"] == "step")
    assert first["step"] == 1 and "r1" in first["losses"]  # the R1 penalty ran under DDP on the first step
    assert (out / "samples" / "step_000003.png").exists()
    card = json.loads((out / "model.json").read_text())
    assert card["steps"] == 3
