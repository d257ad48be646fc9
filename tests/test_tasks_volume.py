"""Whole-volume runs: the batched path gives what the single-slice task functions give, empty slices are left as
background without counting in the metrics, and the batched metrics equal the per-slice ones."""

from __future__ import annotations

import numpy as np
import pytest

from medgan import tasks
from tests.ui_checkpoints import ensure_checkpoints

Z0, Z = 86, 5  # five neighbouring slices through the middle of the brain


@pytest.fixture(scope="module")
def volume():
    ensure_checkpoints()
    from medgan.data import load_brain_volume

    bv = load_brain_volume()
    vol, lab = bv.volume[Z0 : Z0 + Z].copy(), bv.labels[Z0 : Z0 + Z].copy()
    regions = np.zeros(vol.shape, bool)
    regions[:, 100:140, 90:130] = True
    return vol, lab, regions


def _same(batched: dict[str, float], single: dict[str, float]) -> None:
    assert list(batched) == list(single)
    for k, v in single.items():
        assert batched[k] == pytest.approx(v, abs=1e-4), k


@pytest.mark.parametrize("task", ["synthesis", "inpainting", "segmentation", "enhancement"])
def test_batched_volume_equals_the_single_slice_tasks(volume, task):
    vol, lab, regions = volume
    res = tasks.run_volume(task, vol, _model(task), labels=lab, regions=regions,
                           seed=3, batch=2)
    assert res.output.shape == vol.shape and res.skipped == []
    for i in (0, 3, 4):  # the first slice of a batch, and the last batch (a single slice)
        if task == "synthesis":
            one = tasks.synthesize(lab[i], _model(task), seed=3, reference=vol[i])
        elif task == "inpainting":
            one = tasks.inpaint(vol[i], regions[i], _model(task), labels=lab[i], seed=3)
        elif task == "segmentation":
            one = tasks.segment(vol[i], _model(task), reference_labels=lab[i])
        else:
            one = tasks.enhance(vol[i], _model(task), seed=3 + i)
        np.testing.assert_allclose(res.output[i], one.output, atol=2e-3)
        if one.labels is not None:
            assert np.array_equal(res.labels[i], one.labels)
        _same(res.per_slice[i], one.metrics)
    for k, v in res.metrics.items():  # the volume's metrics are the means over the slices
        assert v == pytest.approx(np.mean([m[k] for m in res.per_slice if k in m]))


def _model(task: str) -> str:
    return {"synthesis": "spade_synthesis", "inpainting": "spade_inpainting", "segmentation": "unet_segmentation",
            "enhancement": "wgangp_denoise"}[task]


@pytest.mark.parametrize("task", ["synthesis", "segmentation", "enhancement"])
def test_empty_slices_stay_background_and_count_in_no_metric(volume, task):
    vol, lab, _ = volume
    vol, lab = vol[:3].copy(), lab[:3].copy()
    vol[1], lab[1] = 0.01, 0  # no tissue (nothing above the tissue level), no labels
    seen = []
    res = tasks.run_volume(task, vol, _model(task), labels=lab if task != "enhancement" else None, batch=2,
                           progress=lambda i, n: seen.append((i, n)))
    assert res.skipped == [1] and res.per_slice[1] == {}
    assert seen == [(2, 3), (3, 3)]
    if task == "enhancement":
        assert np.array_equal(res.output[1], vol[1])  # the slice as it is
    else:
        assert not res.output[1].any() and not res.labels[1].any()
    assert res.per_slice[0] and res.per_slice[2]
    for k, v in res.metrics.items():
        assert v == pytest.approx(np.mean([res.per_slice[0][k], res.per_slice[2][k]]))


def test_batched_label_metrics_equal_the_per_map_ones():
    from medgan.metrics.segmentation import dice_per_class, iou_per_class
    from medgan.tasks.encode import LabelCheck
    from medgan.tasks.scoring import label_metrics

    rng = np.random.default_rng(0)
    preds = [rng.integers(0, 3, (20, 24)).astype(np.uint8) for _ in range(3)]
    refs = [rng.integers(0, 4, (20, 24)).astype(np.uint8) for _ in range(3)]
    refs[2][:] = 0
    preds[2][:] = np.where(preds[2] == 2, 1, preds[2])  # only class 1 present: other classes not reported
    names = ["background", "a", "b", "c"]
    got = label_metrics([LabelCheck(p, r, names, iou=True) for p, r in zip(preds, refs)])
    for p, r, m in zip(preds, refs, got):
        d = dice_per_class(p, r, 4, include_background=True).numpy()
        j = iou_per_class(p, r, 4, include_background=True).numpy()
        present = [c for c in range(1, 4) if (p == c).any() or (r == c).any()]
        assert list(m) == [x for c in present for x in (f"dice {names[c]}", f"iou {names[c]}")] + ["dice mean"]
        for c in present:
            assert m[f"dice {names[c]}"] == pytest.approx(d[c]) and m[f"iou {names[c]}"] == pytest.approx(j[c])
        assert m["dice mean"] == pytest.approx(np.mean([d[c] for c in present]))


def test_worker_threads_give_the_one_thread_result_and_report_progress_on_the_caller(volume):
    import threading

    vol, lab, _ = volume
    runs = {}
    for workers in (1, 2):
        calls = []
        runs[workers] = tasks.run_volume("synthesis", vol, "spade_synthesis", labels=lab, batch=2, workers=workers,
                                         progress=lambda i, n, calls=calls: calls.append((i, threading.get_ident())))
        assert [i for i, _ in calls] == [2, 4, 5] and {t for _, t in calls} == {threading.get_ident()}
    np.testing.assert_allclose(runs[2].output, runs[1].output, atol=1e-6)
    for a, b in zip(runs[2].per_slice, runs[1].per_slice):
        _same(a, b)


def test_workers_run_one_intra_op_thread_each_and_pass_errors_on():
    import torch

    from medgan.tasks.workers import in_workers

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        got = sorted(in_workers(lambda i: (i, torch.get_num_threads()), range(6), 2))
        assert got == [(i, 1) for i in range(6)]
        assert torch.get_num_threads() == 2  # the caller keeps its own count
    finally:
        torch.set_num_threads(before)

    def piece(i: int) -> int:
        if i == 3:
            raise ValueError("piece 3 failed")
        return i

    with pytest.raises(ValueError, match="piece 3"):
        list(in_workers(piece, range(6), 2))
