"""The retraining recipe (``python -m medgan train-all``): the table, the commands it builds, the verdicts, and
the smoke profile run end to end (a few steps of one model per task on the CPU, exported, measured); every
row's command is checked against the training CLI without training."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import pytest

from medgan.recipes.runner import Outcome, decide, format_summary, replace_installed
from medgan.recipes.table import PROFILES, RECIPES, planned_steps, recipe, train_args
from medgan.training.cpu_bf16 import cpu_has_fast_bf16

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _parser() -> argparse.ArgumentParser:
    from medgan.training.cli import add_arguments

    p = argparse.ArgumentParser()
    add_arguments(p)
    return p


def test_every_bundled_checkpoint_has_exactly_one_recipe_row() -> None:
    bundled = sorted(p.stem for p in (ROOT / "checkpoints").glob("*.json"))
    names = [r.name for r in RECIPES]
    assert sorted(names) == bundled
    assert len(set(names)) == len(names)
    with pytest.raises(ValueError, match="valid"):
        recipe("no_such_model")


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_recipe_command_builds_the_training_config_it_promises(profile: str) -> None:
    from medgan.training.cli import build_config

    prof = PROFILES[profile]
    parser = _parser()
    for r in RECIPES:
        cfg = build_config(parser.parse_args(train_args(r, prof, f"runs/{r.name}")))
        assert (cfg.task, cfg.arch, cfg.run.name) == (r.task, r.arch, r.name)
        assert cfg.run.device == prof.device
        assert cfg.run.steps == planned_steps(r, prof) > 0
        if r.task == "generation":
            size = 64 if profile == "smoke" else 128
            assert cfg.data.image_size == size and cfg.generator.args["image_size"] == size
            if profile == "cpu":  # progressive: the bundled 64 px generator grown to 128 px
                assert cfg.run.init_from == r.name
                assert cfg.run.grown_from == {"name": r.name, "image_size": 64, "image_size_new": 128}
            else:
                assert cfg.run.grown_from is None
        else:
            d = cfg.data
            if r.name == "pix2pix_synthesis":  # labels → T1: the target's contrast is the task, so no randomisation
                assert d.augment and d.zero_background and cfg.optim.lambda_adv == 0
            else:
                assert d.augment and d.randomise >= 0.2, r.name  # domain randomisation for the other conditional models
            if r.task == "inpainting":
                assert (d.hole_max, d.input_fill, d.label_dropout, d.stroke_holes) == (96, "biharmonic", 0.6, 0.3)
        if profile == "gpu":
            assert cfg.data.batch_size >= 16
            assert cfg.run.steps / r.gpu_it_s <= prof.train_seconds  # the step budget fits the time box
        if profile == "cpu":
            assert cfg.run.amp_cpu == cpu_has_fast_bf16()  # bf16 only where the CPU has it natively
        if profile == "smoke":
            assert cfg.run.steps <= 2 and cfg.data.image_size == 64


def test_the_gpu_profile_trains_everything_at_once_inside_ten_minutes() -> None:
    p = PROFILES["gpu"]
    assert p.device == "cuda" and p.jobs >= len(RECIPES)
    assert p.train_seconds <= 330  # + start, export and the quality reports (run at once) within 600 s


def test_dry_run_prints_one_command_per_model_and_gpu_needs_cuda(capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    from medgan.cli import main

    assert main(["train-all", "--profile", "cpu", "--dry-run", "--out", "x"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + len(RECIPES)
    assert all("python -m medgan train --task" in line for line in lines[1:])
    assert main(["train-all", "--smoke", "--only", "wgangp_sr4,dcgan_generation", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["wgangp_sr4", "dcgan_generation"]  # in the table's order
    assert main(["train-all", "--only", "nope,wgangp_sr4", "--dry-run"]) == 2
    assert "no recipe for nope; valid: " in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["train-all", "--profile", "gpu", "--out", "x"]) == 2
        assert "needs a CUDA GPU" in capsys.readouterr().err


def _gen(bars: int, fd: float) -> dict:
    return {"bars_passed": bars, "fd_medgan_vs_train": fd, "bars": {}}


def test_a_new_checkpoint_replaces_the_installed_one_only_where_it_beats_it(tmp_path: Path) -> None:
    from medgan.inference import find_card

    out = tmp_path / "out"
    (out / "checkpoints").mkdir(parents=True)
    psnr = find_card("wgangp_denoise").metrics["test"]["psnr"]
    names = {"wgangp_denoise": psnr + 1.0, "wgangp_sr4": find_card("wgangp_sr4").metrics["test"]["psnr"] - 1.0}
    for name, value in names.items():
        (out / "checkpoints" / f"{name}.json").write_text(json.dumps({"metrics": {"test": {"psnr": value}}}))
        (out / "checkpoints" / f"{name}.safetensors").write_bytes(b"new " + name.encode())
    for name in ("dcgan_generation", "lsgan_generation", "hingegan_generation"):
        (out / "checkpoints" / f"{name}.json").write_text("{}")
        (out / "checkpoints" / f"{name}.safetensors").write_bytes(b"new " + name.encode())
    quality = {"new": {"dcgan_generation": _gen(3, 0.1), "lsgan_generation": _gen(2, 0.05),
                       "hingegan_generation": _gen(2, 0.2)},
               "installed": {"dcgan_generation": _gen(2, 0.04), "lsgan_generation": _gen(2, 0.3),
                             "hingegan_generation": _gen(3, 0.06)}}
    outcomes = {n: Outcome(n, recipe(n).task, 10, steps=10, status="finished") for n in [*names, *quality["new"]]}
    decide(outcomes, out, quality)
    beats = {n for n, o in outcomes.items() if o.beats}
    # more bars passed wins; as many bars with a lower FD-medgan wins; a higher primary test metric wins
    assert beats == {"wgangp_denoise", "dcgan_generation", "lsgan_generation"}
    assert outcomes["wgangp_denoise"].metric == "test psnr" and outcomes["wgangp_denoise"].installed == psnr
    dest = tmp_path / "installed"
    dest.mkdir()
    for n in outcomes:
        for suffix in (".json", ".safetensors"):
            (dest / f"{n}{suffix}").write_text("old")
    replace_installed(outcomes, out, dest)
    for n, o in outcomes.items():
        assert o.replaced == (n in beats)
        assert ((dest / f"{n}.safetensors").read_bytes() == b"new " + n.encode()) == (n in beats)
    text = format_summary(outcomes, PROFILES["gpu"], 1.0)
    assert text.count("REPLACED") == 3 and text.count("keeps installed") == 2


# one row per task family, and each generator kind: a U-Net (pix2pix), SPADE, the segmentation U-Net, the
# enhancement WGAN-GP (real pydicom slices too) and an unconditional generator
SMOKE_ROWS = ("pix2pix_synthesis", "spade_inpainting", "unet_segmentation", "wgangp_denoise", "stylegan_generation")


def test_the_smoke_rows_cover_every_task_and_conditional_generator() -> None:
    rows = [recipe(n) for n in SMOKE_ROWS]
    assert {r.task for r in rows} == {r.task for r in RECIPES}
    assert {r.arch for r in rows if r.task != "generation"} >= {"pix2pix", "spade", "unet", "wgangp"}


def test_a_failed_quality_report_is_said_and_replaces_nothing(tmp_path: Path) -> None:
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "wgangp_denoise.json").write_text(json.dumps({"metrics": {"test": {"psnr": 99.0}}}))
    outcomes = {n: Outcome(n, recipe(n).task, 2, steps=2, status="finished")
                for n in ("wgangp_denoise", "dcgan_generation")}
    quality = {"new": {"dcgan_generation": _gen(5, 0.01)}, "installed": {},
               "failed": {"generation": "quality/generation.txt (exit 1)",
                          "conditional": "quality/conditional.txt (exit 1)"}}
    decide(outcomes, tmp_path, quality)
    assert outcomes["dcgan_generation"].report_failed == "quality/generation.txt (exit 1)"
    assert outcomes["wgangp_denoise"].report_failed == "quality/conditional.txt (exit 1)"
    assert not any(o.beats for o in outcomes.values())  # no verdict from a report that did not run through
    assert format_summary(outcomes, PROFILES["smoke"], 1.0).count("quality report FAILED") == 2


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_smoke_profile_trains_exports_and_measures_one_model_per_task(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from medgan.cli import main

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from generation_quality import BARS

    before = {p.name: p.stat().st_mtime for p in (ROOT / "checkpoints").iterdir() if p.is_file()}
    out = tmp_path / "all"
    rows = [recipe(n) for n in SMOKE_ROWS]
    assert main(["train-all", "--smoke", "--only", ",".join(SMOKE_ROWS), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["profile"] == "smoke" and set(summary["models"]) == set(SMOKE_ROWS)
    assert sorted(p.stem for p in (out / "checkpoints").glob("*.json")) == sorted(SMOKE_ROWS)  # only those
    conditional = (out / "quality" / "conditional.txt").read_text()
    for r in rows:
        card = json.loads((out / "checkpoints" / f"{r.name}.json").read_text())
        assert (out / "checkpoints" / f"{r.name}.safetensors").stat().st_size > 0
        assert card["steps"] == 2 and card["task"] == r.task
        assert card["training_hardware"] == {"device": "CPU", "profile": "smoke"}
        assert card["training_wall_s"] > 0 and card["recipe"] == "python -m medgan train-all --profile smoke"
        assert r.name in printed
        model = summary["models"][r.name]
        assert model["status"] == "finished" and model["steps"] == 2 and not model["report_failed"]
        if r.task != "generation":
            assert card["metrics"]["test"], r.name  # re-measured on the held-out slices by the export
            assert model["new"] is not None and model["installed"] is not None
            assert any(r.name in line and line.startswith(r.task) for line in conditional.splitlines()), r.name
    gen = json.loads((out / "quality" / "generation_new.json").read_text())
    installed = json.loads((out / "quality" / "generation_installed.json").read_text())
    names = {r.name for r in rows if r.task == "generation"}
    assert set(gen) == set(installed) == names
    for name, res in gen.items():  # measured at 128 px, drawn through the installed checkpoint's renderer
        assert set(res["bars"]) == {k for k, _ in BARS} and res["image_size"] == installed[name]["image_size"] == 128
        card = json.loads((out / "checkpoints" / f"{name}.json").read_text())
        assert card["image_size"] == 64 and card["renderer"] == res["renderer"] == installed[name]["renderer"]
    assert "held-out test slices: 2" in conditional
    # nothing installed was touched without --replace
    assert before == {p.name: p.stat().st_mtime for p in (ROOT / "checkpoints").iterdir() if p.is_file()}
    shutil.rmtree(out / "runs")
