"""Fine-tuning through the job system: arguments checked before anything is queued (real SQLite job store),
the published card's lineage (the same code as the CLI export), the parent's discriminator, frozen parts,
the learning-rate warm-up and the generation quality readout (a real 2-step run from a bundled checkpoint)."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest
import torch
from sqlalchemy import create_engine

from medgan import checkpoints as ckpt
from medgan.inference import find_card
from medgan.jobs.publish import publish
from medgan.jobs.scheduler import Scheduler
from medgan.jobs.spec import JobSpec, check_spec, train_args
from medgan.jobs.store import JobStore
from medgan.training import finetune
from tests.spectral import spectral_norms

PARENT = "hingegan_generation"


@pytest.fixture()
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("MEDGAN_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _sched(tmp_path: Path) -> Scheduler:
    return Scheduler(store=JobStore(create_engine(f"sqlite:///{tmp_path / 'jobs.db'}")), home=tmp_path, gpus=[])


def test_bad_parents_are_refused_with_the_reason_and_nothing_is_queued(tmp_path, home):
    sched = _sched(tmp_path)
    # a running job holds the only (CPU) slot: a bad request must still be refused now, not sit in the queue
    busy = sched.submit(JobSpec(task="synthesis", arch="pix2pix", data="phantoms", steps=5, name="busy"))
    sched.store.update(busy.id, status="running", slot="cpu", pid=None)
    cases = {
        "no checkpoint named 'missing'": dict(task="generation", arch="hingegan", init_from="missing", image_size=64),
        "is a synthesis model": dict(task="generation", arch="hingegan", init_from="pix2pix_synthesis",
                                     image_size=64),
        "trains a stylegan generator": dict(task="generation", arch="stylegan", init_from=PARENT, image_size=64),
        "trained at 64 px but this job asks for 128 px": dict(task="generation", arch="hingegan",
                                                              init_from=PARENT, image_size=128),
        "trained for sr4, not denoise": dict(task="enhancement", arch="wgangp", init_from="wgangp_sr4",
                                             degradation="denoise", image_size=256),
        "has no encoder": dict(task="synthesis", arch="spade", freeze="encoder"),
        "cannot change the generator of a fine-tune": dict(task="generation", arch="hingegan", init_from=PARENT,
                                                           image_size=64, g_args="ngf=32"),
        "R1 γ applies to generation only": dict(task="synthesis", arch="pix2pix", r1_gamma=1.0),
    }
    for reason, kw in cases.items():
        with pytest.raises(ValueError, match=reason.replace("(", r"\(")):
            sched.submit(JobSpec(data="phantoms", steps=5, **kw))
    assert [j.id for j in sched.store.list()] == [busy.id]  # nothing was queued
    assert not [p for p in (tmp_path / "jobs").iterdir() if p.name != busy.id]  # no job folders either
    ok = sched.submit(JobSpec(task="generation", arch="hingegan", init_from=PARENT, image_size=64, steps=40))
    assert ok.status == "queued"
    # the fine-tune preset: ×0.25 learning rates, a short warm-up, the readout
    assert ok.spec["lr_g"] == pytest.approx(5e-5) and ok.spec["warmup_steps"] == 4
    assert "--warmup-steps" in ok.args and "--quality-readout" in ok.args


def test_cli_refuses_a_size_its_parent_was_not_trained_at():
    from medgan.training.cli import add_arguments, build_config

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    base = ["--task", "generation", "--arch", "hingegan", "--init-from", PARENT, "--out", "x"]
    with pytest.raises(ValueError, match="trained at 64 px"):
        build_config(parser.parse_args([*base, "--image-size", "32"]))
    grown = build_config(parser.parse_args([*base, "--image-size", "128"]))  # a larger size grows the generator
    assert grown.data.image_size == 128 and grown.run.grown_from["image_size"] == 64
    assert build_config(parser.parse_args(base)).data.image_size == 64
    assert build_config(parser.parse_args([*base, "--image-size", "64"])).data.image_size == 64
    assert build_config(parser.parse_args([*base, "--quality-samples", "16"])).run.quality_samples == 16
    with pytest.raises(ValueError, match="--quality-samples must be ≥ 2"):
        build_config(parser.parse_args([*base, "--quality-samples", "1"]))


def test_warm_up_ramps_the_learning_rate_linearly():
    from medgan.training.loop import _scheduler

    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=1.0)
    sch = _scheduler(opt, total=100, decay_start=1.0, warmup=4)
    lrs = []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sch.step()
    assert lrs == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])


def test_published_fine_tune_carries_lineage_metrics_and_frozen_parts(tmp_path, home):
    from medgan.jobs.runner import shell_command
    from medgan.training.cli import add_arguments, main

    parent = find_card(PARENT)
    spec = check_spec(JobSpec(task="generation", arch="hingegan", init_from=PARENT, image_size=64, steps=2,
                              batch_size=2, device="cpu", freeze="early", name="tuned"))
    out = tmp_path / "run"
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    readout = ["--quality-samples", "16"]  # the readout's code path at a quarter of its samples
    assert main(parser.parse_args([*train_args(spec), *readout, "--out", str(out)])) == 0
    name = publish(out, "tuned", data_desc="embedded", job_id="j1", command=shell_command(train_args(spec), out))
    card = json.loads((home / "checkpoints" / f"{name}.json").read_text())

    # (1) lineage: total steps, the parent's stages + this one, the chained command, the parent's metrics
    assert card["steps"] == parent.total_steps + 2
    assert [s["steps"] for s in card["training_stages"]] == [s["steps"] for s in parent.training_stages] + [2]
    stage = card["training_stages"][-1]
    assert stage["init_from"] == PARENT and stage["run"] == str(out)
    assert stage["parent_metrics"] == json.loads(json.dumps(parent.metrics))
    assert card["training_command"].startswith(parent.training_command + " && python -m medgan train")
    assert card["training_command"].endswith(f"--out {out}")
    # (4) what the fine-tune started from, said in the card
    assert card["fine_tune"]["discriminator"].startswith("random: the parent checkpoint stores no discriminator")
    assert parent.discriminator["note"] in card["fine_tune"]["discriminator"]  # and the bundled card's reason
    assert card["fine_tune"]["frozen"] == ["fc", "fc_norm"] and card["fine_tune"]["warmup_steps"] == 1
    assert card["discriminator"]["stored"] is True  # the published file keeps it for the next fine-tune
    # (5) the quality readout before (parent) and after, on the same fixed sample set
    q = card["metrics"]["quality"]
    for split in ("before", "after"):
        assert set(q[split]) >= {"fd_medgan", "label_agreement", "diversity_l1"}
        assert q[split]["fd_medgan"] > 0 and 0 <= q[split]["label_agreement"] <= 1 and q[split]["diversity_l1"] > 0
        assert q[split]["samples"] == 16
    events = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert {e.get("split") for e in events if e["type"] == "val"} >= {"parent", "after"}
    from medgan.jobs.progress import read_progress
    from medgan.jobs.view import quality_lines

    shown = quality_lines(read_progress(out))[0]  # the job view's readout line
    assert "parent → fine-tuned" in shown and f"{q['before']['fd_medgan']:.4g} → {q['after']['fd_medgan']:.4g}" in shown

    # frozen parts did not move, the others did
    before = ckpt.split_prefix(ckpt.load_weights(parent.weights_path), "generator")
    after = ckpt.split_prefix(ckpt.load_weights(out / "model.safetensors"), "generator")
    g = ckpt.ModelCard.read(home / "checkpoints" / f"{name}.json").build()
    params = {k for k, _ in g.named_parameters()}
    frozen = [k for k in params if k.split(".")[0] in ("fc", "fc_norm")]
    moving = [k for k in params if k.split(".")[0] not in ("fc", "fc_norm")]
    assert frozen and all(torch.equal(before[k].float(), after[k].float()) for k in frozen)
    assert any(not torch.equal(before[k].float(), after[k].float()) for k in moving)

    # the next fine-tune from the published checkpoint starts from its discriminator too
    from medgan.models.registry import build_discriminator, build_generator

    gen = build_generator(card["generator"]["name"], **card["generator"]["args"])
    disc = build_discriminator(card["discriminator"]["name"], **card["discriminator"]["args"])
    info = finetune.load_parent(name, gen, disc)
    assert info["discriminator"] == f"from the parent ({name}.discriminator.safetensors)"
    assert card["discriminator"]["file"] == f"{name}.discriminator.safetensors"
    published = ckpt.load_weights(home / "checkpoints" / f"{name}.safetensors")
    assert published and not ckpt.split_prefix(published, "discriminator")  # the generator file keeps no D
    stored = ckpt.split_prefix(ckpt.load_weights(home / "checkpoints" / card["discriminator"]["file"]),
                               "discriminator")
    run_d = ckpt.split_prefix(ckpt.load_weights(out / "model.safetensors"), "discriminator")
    assert stored.keys() == run_d.keys() and all(torch.equal(stored[k], v) for k, v in run_d.items())
    assert all(torch.equal(disc.state_dict()[k], v) for k, v in stored.items())


def test_a_discriminator_file_beside_the_checkpoint_is_loaded(home):
    from medgan.models.registry import build_discriminator, build_generator

    parent = find_card(PARENT)
    folder = home / "checkpoints"
    folder.mkdir(parents=True)
    shutil.copy(parent.weights_path, folder / "with_d.safetensors")
    data = parent.to_dict()
    data["name"] = "with_d"
    (folder / "with_d.json").write_text(json.dumps(data))
    d_cfg = parent.discriminator
    source = build_discriminator(d_cfg["name"], **d_cfg["args"])
    ckpt.save_tensors(folder / "with_d.discriminator.safetensors",
                      {f"discriminator.{k}": v for k, v in source.state_dict().items()})
    gen = build_generator(parent.generator["name"], **parent.generator["args"])
    disc = build_discriminator(d_cfg["name"], **d_cfg["args"])
    info = finetune.load_parent("with_d", gen, disc)
    assert info["discriminator"] == "from the parent (with_d.discriminator.safetensors)"
    assert all(torch.equal(disc.state_dict()[k], v) for k, v in source.state_dict().items())
    wrong = build_discriminator(d_cfg["name"], **{**d_cfg["args"], "ndf": 8})
    assert finetune.load_parent("with_d", gen, wrong)["discriminator"].startswith("random: the parent's discriminator does not fit")


def test_job_view_shows_validation_metrics_of_conditional_tasks(tmp_path):
    from medgan.jobs.progress import read_progress
    from medgan.jobs.view import quality_lines

    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in (
        {"type": "start", "total_steps": 4, "fine_tune": {"init_from": "p", "discriminator": "random"}},
        {"type": "val", "step": 4, "metrics": {"psnr": 21.5, "ssim": 0.61}},
        {"type": "val", "step": 4, "split": "test", "metrics": {"psnr": 20.25, "ssim": 0.6}})) + "\n")
    assert quality_lines(read_progress(tmp_path)) == ["Quality (test set, step 4): psnr 20.25, ssim 0.6"]


def test_a_conditional_fine_tune_is_shown_beside_its_parent_and_the_classical_baselines() -> None:
    from medgan.jobs.view import benchmark_lines

    (line,) = benchmark_lines("pix2pix_inpainting")
    assert "biharmonic hole_psnr" in line and "telea" in line and "pix2pix_inpainting hole_psnr" in line
    assert "test slices, 50×50 hole, no labels" in line
    (line,) = benchmark_lines("wgangp_denoise")
    assert "non-local means psnr" in line and "degraded input" in line
    assert benchmark_lines("no_such_model") == [] and benchmark_lines(None) == []


def test_a_parent_with_tiny_spectral_weights_starts_at_unit_scale_and_draws_the_same(home):
    """A parent whose spectral-norm layers have raw weights far below unit scale (as Xavier with gain 0.02 leaves
    them; SPADE was trained from there) starts its fine-tune at unit scale, so its learning rate means what it
    says, and the generator computes what it did."""
    from medgan.models.registry import build_discriminator, build_generator

    parent = find_card("spade_synthesis")
    tensors = ckpt.load_weights(parent.weights_path)
    tiny = {k: v * 0.01 if k.endswith("parametrizations.weight.original") else v for k, v in tensors.items()}
    folder = home / "checkpoints"
    folder.mkdir(parents=True)
    ckpt.save_tensors(folder / "tiny_spade.safetensors", tiny)
    data = parent.to_dict()
    data["name"] = "tiny_spade"
    data.pop("discriminator", None)
    (folder / "tiny_spade.json").write_text(json.dumps(data))

    def build():
        return build_generator(parent.generator["name"], **parent.generator["args"])

    gen = build()
    disc = build_discriminator("multiscale_patchgan", in_channels=5, ndf=8, num_d=2, spectral_norm=True)
    info = finetune.load_parent("tiny_spade", gen, disc)
    plain = build()
    ckpt.load_into(plain, ckpt.split_prefix(tiny, "generator"))
    assert info["spectral_layers_rescaled"] == len(spectral_norms(gen)) > 0
    assert max(spectral_norms(plain)) < 0.05 and all(0.5 <= n <= 2.0 for n in spectral_norms(gen) + spectral_norms(disc))
    labels = torch.zeros(1, 4, 256, 256)
    labels[:, 0], labels[:, 3, 64:192, 64:192], labels[:, 0, 64:192, 64:192] = 1, 1, 0
    with torch.no_grad():
        assert torch.allclose(gen.eval()(labels), plain.eval()(labels), atol=1e-3)
