"""The ``python -m medgan train`` contract: metrics.jsonl events, files in OUT, STOP-file and SIGTERM
cancellation (checkpoint + "cancelled" + exit 0), resume, clear errors; and the 2-process
DistributedDataParallel run (identical replicas, equal to one process with the same global batch)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from medgan import checkpoints as ckpt
from tests.conftest import ROOT

BASE = ["--data", "phantoms", "--image-size", "32", "--device", "cpu", "--batch-size", "2"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"MEDGAN_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)})
    return env


def _run(args: list[str], tmp_path: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "medgan", "train", *args], cwd=ROOT, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=timeout)


def _events(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]


def test_train_writes_the_contract_files_and_events(tmp_path: Path) -> None:
    out = tmp_path / "seg"
    r = _run(["--task", "segmentation", "--arch", "unet", *BASE, "--steps", "3", "--sample-every", "2",
              "--val-every", "2", "--ckpt-every", "2", "--name", "my_seg", "--out", str(out)], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    ev = _events(out)
    types = [e["type"] for e in ev]
    assert types[0] == "start" and types[-1] == "end" and ev[-1]["status"] == "finished"
    assert ev[0]["device"] == "cpu" and ev[0]["total_steps"] == 3 and "device_name" in ev[0]
    steps = [e for e in ev if e["type"] == "step"]
    assert steps and steps[-1]["step"] == 3 and steps[-1]["total"] == 3
    assert all({"losses", "it_s", "imgs_s", "eta_s", "time"} <= e.keys() for e in steps)
    vals = [e for e in ev if e["type"] == "val"]
    assert vals and "dice_mean" in vals[0]["metrics"] and vals[0]["step"] == 2
    samples = [e for e in ev if e["type"] == "sample"]
    assert samples[0]["path"] == "samples/step_000002.png" and (out / samples[0]["path"]).exists()
    assert (out / "samples" / "latest.png").exists()
    assert {"type": "checkpoint", "step": 2, "path": "model.safetensors"}.items() <= \
        next(e for e in ev if e["type"] == "checkpoint").items()
    for f in ("model.safetensors", "model.json", "train_state.safetensors", "train_state.json", "config.json"):
        assert (out / f).exists(), f
    card = json.loads((out / "model.json").read_text())
    assert card["name"] == "my_seg" and card["task"] == "segmentation" and card["steps"] == 3
    assert card["training_command"].startswith("python -m medgan train --task segmentation")


def test_stop_file_cancels_then_resume_finishes(tmp_path: Path) -> None:
    out = tmp_path / "enh"
    out.mkdir()
    (out / "STOP").touch()
    args = ["--task", "enhancement", "--arch", "wgangp", "--degradation", "denoise", *BASE, "--steps", "4",
            "--val-every", "0", "--sample-every", "0", "--out", str(out)]
    r = _run(args, tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    ev = _events(out)
    assert ev[-1] == {**ev[-1], "type": "end", "status": "cancelled"}
    assert json.loads((out / "train_state.json").read_text())["step"] == 1
    assert any(e["type"] == "checkpoint" and e["step"] == 1 for e in ev)
    (out / "STOP").unlink()
    r = _run([*args, "--resume"], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    ev = _events(out)
    assert ev[-1]["status"] == "finished"
    starts = [e for e in ev if e["type"] == "start"]
    assert len(starts) == 2 and starts[1]["start_step"] == 1
    assert json.loads((out / "model.json").read_text())["steps"] == 4


def test_sigterm_cancels_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "sig"
    cmd = [sys.executable, "-m", "medgan", "train", "--task", "segmentation", "--arch", "unet", *BASE,
           "--steps", "100000", "--val-every", "0", "--sample-every", "0", "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            if (out / "metrics.jsonl").exists() and any(e["type"] == "step" for e in _events(out)):
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    ev = _events(out)
    assert ev[-1]["status"] == "cancelled"
    assert (out / "model.safetensors").exists() and (out / "train_state.json").exists()


def test_bad_arguments_give_a_clear_message(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from medgan.cli import main

    assert main(["train", "--task", "synthesis", "--arch", "nope", *BASE, "--out", str(tmp_path / "x")]) == 2
    assert "synthesis/spade" in capsys.readouterr().err
    assert main(["train", "--task", "enhancement", "--arch", "wgangp", *BASE, "--out", str(tmp_path / "y")]) == 2
    assert "degradation" in capsys.readouterr().err
    assert main(["train", "--task", "segmentation", "--arch", "unet", *BASE, "--init-from", "no_such_model",
                 "--out", str(tmp_path / "z")]) == 2
    assert "unknown checkpoint 'no_such_model'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_two_process_data_parallel_matches_single_process(tmp_path: Path) -> None:
    common = ["--task", "synthesis", "--arch", "pix2pix", "--data", "phantoms", "--image-size", "32",
              "--device", "cpu", "--steps", "3", "--val-every", "0", "--sample-every", "0", "--augment"]
    ddp_out, single_out = tmp_path / "ddp", tmp_path / "single"
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                        "-m", "medgan", "train", *common, "--batch-size", "2", "--out", str(ddp_out)],
                       cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    r = _run([*common, "--batch-size", "4", "--out", str(single_out)], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    ev = _events(ddp_out)
    ddp_ev = [e for e in ev if e["type"] == "ddp"]
    assert ddp_ev and ddp_ev[0]["world_size"] == 2 and ddp_ev[0]["max_replica_diff"] == 0.0
    assert ev[0]["world_size"] == 2 and ev[-1]["status"] == "finished"
    # the step functions ran on DistributedDataParallel wrappers over gloo (one process: no wrapper)
    assert ev[0]["data_parallel"] == {"backend": "gloo", "world_size": 2, "wrappers": {
        "generator": "DistributedDataParallel", "discriminator": "DistributedDataParallel"}}
    assert "data_parallel" not in _events(single_out)[0]
    a = ckpt.load_weights(ddp_out / "model.safetensors")
    b = ckpt.load_weights(single_out / "model.safetensors")
    # Summation order differs (two half batches averaged by all-reduce vs one batch), and Adam turns a rounding
    # difference in a gradient that is almost zero into a whole step: allow a few such elements (each within the
    # three Adam steps of lr 2e-4 taken), and none more. A broken all-reduce changes most of the weights.
    total = off = 0
    for k in a:
        d = (a[k] - b[k]).abs()
        loose = d > 2e-5 + 1e-4 * b[k].abs()
        total, off = total + d.numel(), off + int(loose.sum())
        assert float(d.max()) <= 3 * 2e-4 + 1e-6, k
    assert off <= max(2, total // 100_000), f"{off} of {total} weights differ between DDP and one process"


def test_command_line_overrides_reach_the_config() -> None:
    import argparse

    from medgan.training.cli import add_arguments, build_config

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--task", "segmentation", "--arch", "unet", "--image-size", "64", "--crop-size", "32",
                              "--blank-fraction", "0.1", "--batch-size", "3", "--out", "x"])
    cfg = build_config(args)
    assert (cfg.data.crop_size, cfg.data.blank_fraction, cfg.data.batch_size) == (32, 0.1, 3)
    plain = build_config(parser.parse_args(["--task", "segmentation", "--arch", "unet", "--out", "x"]))
    assert plain.data.blank_fraction == 0.0 and "ema_decay" not in plain.family_args
    gen = ["--task", "generation", "--arch", "lsgan", "--image-size", "64", "--out", "x"]
    assert build_config(parser.parse_args([*gen, "--ema-decay", "0.999"])).family_args["ema_decay"] == 0.999
    from medgan.training.family_generation import step_config

    assert step_config(build_config(parser.parse_args(gen))).r1_gamma == 1.0  # the preset
    assert step_config(build_config(parser.parse_args([*gen, "--r1-gamma", "5"]))).r1_gamma == 5.0
    with pytest.raises(ValueError, match="ema-decay"):
        build_config(parser.parse_args([*gen, "--ema-decay", "1.5"]))
    with pytest.raises(ValueError, match="zoom-out"):
        build_config(parser.parse_args(["--task", "segmentation", "--arch", "unet", "--out", "x", "--zoom-out", "1"]))
    assert build_config(parser.parse_args(gen)).optim.betas == (0.5, 0.999)  # the preset
    assert build_config(parser.parse_args([*gen, "--betas", "0", "0.99"])).optim.betas == (0.0, 0.99)
    with pytest.raises(ValueError, match="betas"):
        build_config(parser.parse_args([*gen, "--betas", "0.5", "1.5"]))


def test_export_bundles_the_ema_and_records_switches_made_at_resumes(tmp_path: Path) -> None:
    import argparse

    from medgan.training.cli import add_arguments, main
    from medgan.training.export import export_run

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out, dest = tmp_path / "run", tmp_path / "ckpt"
    base = ["--task", "generation", "--arch", "dcgan", "--image-size", "32", "--batch-size", "2", "--device", "cpu",
            "--sample-every", "0", "--ckpt-every", "0", "--name", "tiny_gen", "--out", str(out)]
    assert main(parser.parse_args([*base, "--steps", "1"])) == 0
    assert main(parser.parse_args([*base, "--steps", "2", "--resume", "--ema-decay", "0.9"])) == 0
    assert main(parser.parse_args([*base, "--steps", "3", "--resume", "--amp-cpu"])) == 0
    assert json.loads((out / "config.json").read_text())["family_args"]["ema_decay"] == 0.9
    weights = export_run(out, dest)
    card = json.loads((dest / "tiny_gen.json").read_text())
    assert [(s["from_step"], s["precision"], s["ema_decay"]) for s in card["training_segments"]] == [
        (0, "fp32", None), (1, "fp32", 0.9), (2, "bf16-mixed", 0.9)]
    assert card["steps"] == 3
    # the card's command reproduces the continued run: the first launch, each resume (its total steps and the
    # switches it turned on, in the first launch's folder), then the export
    parts = card["training_command"].split(" && ")
    assert len(parts) == 4 and parts[0].startswith("python -m medgan train")  # (argv of this in-process call)
    assert parts[1].endswith(f"--out {out} --resume --steps 2 --ema-decay 0.9")
    assert parts[2].endswith(f"--out {out} --resume --steps 3 --amp-cpu")
    assert parts[3].startswith("python -m medgan.training.export")
    bundled = ckpt.load_weights(weights)
    ema = ckpt.split_prefix(ckpt.load_weights(out / "model.safetensors"), "ema")
    assert bundled.keys() == {f"generator.{k}" for k in ema}
    assert all(torch.equal(bundled[f"generator.{k}"], v) for k, v in ema.items())


def test_export_of_a_fine_tuning_run_chains_the_stages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from medgan.inference import find_card
    from medgan.training.cli import add_arguments, main
    from medgan.training.export import export_run

    monkeypatch.setenv("MEDGAN_HOME", str(tmp_path / "home"))
    dest = tmp_path / "home" / "checkpoints"
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    base = ["--task", "generation", "--arch", "dcgan", "--image-size", "32", "--batch-size", "2", "--device", "cpu",
            "--sample-every", "0", "--ckpt-every", "0", "--name", "tiny_chain"]
    assert main(parser.parse_args([*base, "--steps", "2", "--out", str(tmp_path / "s1")])) == 0
    export_run(tmp_path / "s1", dest)
    first = json.loads((dest / "tiny_chain.json").read_text())
    # the export writes the discriminator beside the generator, and the fine-tune below starts from it
    assert first["discriminator"]["stored"] is True and first["discriminator"]["storage"] == "float32"
    disc_file = dest / first["discriminator"]["file"]
    assert disc_file.name == "tiny_chain.discriminator.safetensors" and disc_file.stat().st_size <= 10 * 1024**2
    from safetensors import safe_open

    with safe_open(str(disc_file), framework="pt") as f:
        exported = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - not a dict
    run_d = ckpt.split_prefix(ckpt.load_weights(tmp_path / "s1" / "model.safetensors"), "discriminator")
    assert exported.keys() == {f"discriminator.{k}" for k in run_d}
    assert all(torch.equal(exported[f"discriminator.{k}"], v) for k, v in run_d.items())
    assert "training_stages" not in first and first["steps"] == 2
    assert find_card("tiny_chain").steps == 2

    tuned = ["--init-from", "tiny_chain", "--ema-decay", "0.9", "--steps", "3", "--out", str(tmp_path / "s2")]
    assert main(parser.parse_args([*base, *tuned])) == 0
    start = next(e for e in _events(tmp_path / "s2") if e["type"] == "start")
    assert start["fine_tune"]["discriminator"] == "from the parent (tiny_chain.discriminator.safetensors)"
    export_run(tmp_path / "s2", dest)
    export_run(tmp_path / "s2", dest)  # exporting the same run again does not add its stage twice
    card = json.loads((dest / "tiny_chain.json").read_text())
    assert [s["steps"] for s in card["training_stages"]] == [2, 3]
    assert card["steps"] == 5
    assert card["training_stages"][0]["command"] == first["training_command"]
    assert card["training_stages"][1]["init_from"] == "tiny_chain"
    assert card["training_stages"][1]["run"] == str(tmp_path / "s2")
    assert card["training_command"] == " && ".join(s["command"] for s in card["training_stages"])
    assert card["training_command"].count("python -m medgan.training.export") == 2


def test_an_exported_discriminator_is_found_in_the_bundled_folder_and_the_size_limit_holds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from medgan import inference
    from medgan.models.registry import build_discriminator, build_generator
    from medgan.training import finetune
    from medgan.training.cli import add_arguments, main
    from medgan.training.export import export_run

    monkeypatch.setenv("MEDGAN_HOME", str(tmp_path / "home"))
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out, bundled = tmp_path / "run", tmp_path / "bundled"
    assert main(parser.parse_args(["--task", "synthesis", "--arch", "pix2pix", *BASE, "--steps", "1",
                                   "--sample-every", "0", "--ckpt-every", "0", "--name", "tiny_p2p",
                                   "--out", str(out)])) == 0
    monkeypatch.setattr(inference, "BUNDLED_DIR", bundled)  # the repository's checkpoints/ folder, here
    weights = export_run(out, bundled)
    card = inference.find_card("tiny_p2p")
    assert card.bundled and card.discriminator["stored"] and card.discriminator["file"] == \
        "tiny_p2p.discriminator.safetensors"
    gen = build_generator(card.generator["name"], **card.generator["args"])
    disc = build_discriminator(card.discriminator["name"], **card.discriminator["args"])
    info = finetune.load_parent("tiny_p2p", gen, disc)
    assert info["discriminator"] == "from the parent (tiny_p2p.discriminator.safetensors)"
    run_d = ckpt.split_prefix(ckpt.load_weights(out / "model.safetensors"), "discriminator")
    assert all(torch.equal(disc.state_dict()[k], v) for k, v in run_d.items())

    # over the limit even in float16: no file (an earlier one is removed) and the card says why
    fields = ckpt.save_discriminator(weights, run_d, max_bytes=1000)
    assert fields["stored"] is False and "over the 0.0 MB limit" in fields["note"]
    assert not ckpt.discriminator_path(weights).exists()
    # over the limit in float32 only: float16, which loading casts back
    nbytes = sum(v.numel() * v.element_size() for v in run_d.values())
    assert ckpt.save_discriminator(weights, run_d, max_bytes=int(nbytes * 0.8))["storage"] == "float16"
    assert finetune.load_parent("tiny_p2p", gen, disc)["discriminator"].startswith("from the parent")


def test_model_width_arguments_reach_the_models_and_are_checked() -> None:
    import argparse

    from medgan.training.cli import add_arguments, build_config

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    gen = ["--task", "generation", "--arch", "hingegan", "--image-size", "64", "--out", "x"]
    cfg = build_config(parser.parse_args([*gen, "--g-arg", "ngf=48", "--d-arg", "ndf=24", "--g-arg", "norm=instance"]))
    assert (cfg.generator.args["ngf"], cfg.generator.args["norm"], cfg.discriminator.args["ndf"]) == (48, "instance", 24)
    assert build_config(parser.parse_args(gen)).generator.args["ngf"] != 48  # the preset otherwise
    with pytest.raises(ValueError, match="KEY=VALUE"):
        build_config(parser.parse_args([*gen, "--g-arg", "ngf"]))
    with pytest.raises(ValueError, match="does not take"):
        build_config(parser.parse_args([*gen, "--d-arg", "width=3"]))
    with pytest.raises(ValueError, match="init-from"):
        build_config(parser.parse_args([*gen, "--g-arg", "ngf=8", "--init-from", "hingegan_generation"]))


def test_a_fine_tune_may_add_a_fill_head_to_its_parent_and_nothing_else() -> None:
    import argparse

    from medgan.inference import find_card
    from medgan.models.registry import build_generator
    from medgan.training import finetune
    from medgan.training.cli import add_arguments, build_config

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    base = ["--task", "inpainting", "--arch", "pix2pix", "--init-from", "pix2pix_inpainting", "--out", "x"]
    cfg = build_config(parser.parse_args([*base, "--g-arg", "refine=4"]))
    card_args = find_card("pix2pix_inpainting").generator["args"]
    assert cfg.generator.args == {**card_args, "refine": 4}
    with pytest.raises(ValueError, match=r"--g-arg ngf: .* may only add parts \(refine\)"):
        build_config(parser.parse_args([*base, "--g-arg", "ngf=8"]))

    parent, headed = build_generator("pix2pix", **card_args), build_generator("pix2pix", **cfg.generator.args)
    assert finetune.load_parent("pix2pix_inpainting", parent, None)["generator"] == "from the parent"
    info = finetune.load_parent("pix2pix_inpainting", headed, None)
    assert info["added_parts"] == ["refine"] and "start by returning the parent's output" in info["generator"]
    x = torch.rand(1, card_args["in_channels"], 256, 256) * 2 - 1
    with torch.no_grad():
        assert torch.equal(headed.eval()(x), parent.eval()(x))
    wrong = build_generator("pix2pix", **{**card_args, "ngf": 16})  # a part that does not fit is still an error
    with pytest.raises(RuntimeError, match="size mismatch"):
        finetune.load_parent("pix2pix_inpainting", wrong, None)


def test_a_copied_run_resumes_in_its_new_folder(tmp_path: Path) -> None:
    import argparse
    import shutil

    from medgan.training.cli import add_arguments, main

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    first, copy = tmp_path / "first", tmp_path / "copy"
    base = ["--task", "generation", "--arch", "dcgan", "--image-size", "32", "--batch-size", "2", "--device", "cpu",
            "--sample-every", "0", "--ckpt-every", "0"]
    assert main(parser.parse_args([*base, "--steps", "1", "--out", str(first)])) == 0
    shutil.copytree(first, copy)
    before = (first / "metrics.jsonl").read_text()
    assert main(parser.parse_args([*base, "--steps", "2", "--resume", "--out", str(copy)])) == 0
    assert (first / "metrics.jsonl").read_text() == before  # the original run is untouched
    assert [e["step"] for e in _events(copy) if e["type"] == "step"][-1] == 2
    assert json.loads((copy / "train_state.json").read_text())["step"] == 2


def test_bf16_on_cpu_is_advised_against_where_the_cpu_lacks_it(monkeypatch) -> None:  # noqa: ANN001
    from medgan.training import cpu_bf16

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    assert not cpu_bf16.cpu_has_fast_bf16()
    assert "no native bf16" in cpu_bf16.bf16_cpu_note() and "leave it off" in cpu_bf16.bf16_cpu_note()
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert cpu_bf16.cpu_has_fast_bf16() and "native bf16" in cpu_bf16.bf16_cpu_note()
