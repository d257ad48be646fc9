"""Training jobs without a server: the command line, the metrics reader, the store, recovery, publishing, data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from sqlalchemy import create_engine

from medgan.jobs import runner
from medgan.jobs.data import DATA_ROOT_ENV, DataChoiceError, prepare_data
from medgan.jobs.progress import MetricsReader
from medgan.jobs.publish import publish
from medgan.jobs.scheduler import Scheduler
from medgan.jobs.spec import JobSpec, check_spec, task_archs, train_args
from medgan.jobs.store import JobStore


def test_form_maps_to_the_train_command_line():
    from medgan.cli import build_parser

    spec = check_spec(JobSpec(task="enhancement", arch="wgangp", degradation="sr4", data="phantoms", steps=7,
                              batch_size=3, lr_g=1e-4, n_critic=3, image_size=32, augment=True,
                              spectral_norm=True, device="cpu", seed=5, name="my_model"))
    ns = build_parser().parse_args(["train", *train_args(spec), "--out", "/tmp/x"])
    assert (ns.task, ns.arch, ns.degradation, ns.data) == ("enhancement", "wgangp", "sr4", "phantoms")
    assert (ns.steps, ns.batch_size, ns.image_size, ns.n_critic, ns.seed) == (7, 3, 32, 3, 5)
    assert ns.lr_g == pytest.approx(1e-4) and ns.lr_d == pytest.approx(5e-5)  # lr_d: the preset's seed value
    assert ns.augment and ns.spectral_norm and ns.device == "cpu" and ns.name == "my_model"
    assert not ns.resume and ns.init_from is None
    assert "--resume" in runner.train_command(train_args(spec), "/tmp/x", resume=True)


def test_every_task_has_architectures_and_bad_forms_are_refused():
    archs = task_archs()
    assert set(archs) == {"synthesis", "inpainting", "segmentation", "enhancement", "generation"}
    assert all(archs.values())
    with pytest.raises(ValueError, match="valid: .*spade"):
        check_spec(JobSpec(task="synthesis", arch="dcgan"))
    with pytest.raises(ValueError, match="power of two"):
        check_spec(JobSpec(task="synthesis", arch="spade", image_size=48))
    with pytest.raises(ValueError, match="model name"):
        check_spec(JobSpec(task="synthesis", arch="spade", name="../evil"))
    with pytest.raises(ValueError, match="steps"):
        check_spec(JobSpec(task="synthesis", arch="spade", steps=0))


def test_metrics_reader_is_incremental_and_handles_partial_lines_and_resume(tmp_path):
    path = tmp_path / "metrics.jsonl"
    reader = MetricsReader(path)
    assert reader.read().step == 0  # no file yet
    with open(path, "w") as f:
        f.write(json.dumps({"type": "start", "device": "cpu", "device_name": "CPU", "total_steps": 4}) + "\n")
        for i in (1, 2, 3):
            f.write(json.dumps({"type": "step", "step": i, "total": 4, "losses": {"g": 1.0 / i, "d": 0.5},
                                "it_s": 2.0, "imgs_s": 8.0, "eta_s": 1.0}) + "\n")
        f.write('{"type": "checkpoint", "step": 2, "pa')  # half-written line
    p = reader.read()
    assert p.step == 3 and p.total == 4 and p.steps == [1, 2, 3] and p.checkpoint_step is None
    assert p.losses["g"] == pytest.approx([1.0, 0.5, 1 / 3])
    with open(path, "a") as f:
        f.write('th": "model.safetensors"}\n')
        f.write(json.dumps({"type": "end", "status": "cancelled", "reason": "stop"}) + "\n")
        f.write(json.dumps({"type": "start", "device": "cpu", "total_steps": 4}) + "\n")  # resumed run
        f.write(json.dumps({"type": "step", "step": 3, "total": 4, "losses": {"g": 0.2, "d": 0.4}}) + "\n")
        f.write(json.dumps({"type": "val", "step": 3, "metrics": {"psnr": 20.5}}) + "\n")
    p = reader.read()
    assert p.checkpoint_step == 2 and p.end is None  # the new start clears the earlier end
    assert p.steps == [1, 2, 3] and p.losses["g"][-1] == pytest.approx(0.2)  # step 3 replaced, not duplicated
    assert p.vals == [{"step": 3, "psnr": 20.5}]


def _store(tmp_path: Path) -> JobStore:
    return JobStore(create_engine(f"sqlite:///{tmp_path / 'jobs.db'}"))


def _job(store: JobStore, out: Path, name: str = "m") -> str:
    spec = check_spec(JobSpec(task="synthesis", arch="pix2pix", data="phantoms", steps=5, name=name))
    job_id = store.new_id() + name
    store.create(job_id=job_id, name=name, task="synthesis", arch="pix2pix", spec=spec.to_dict(),
                 args=train_args(spec), data_desc="phantoms", out_dir=str(out), device="cpu", total_steps=5)
    return job_id


def test_state_changes_are_conditional(tmp_path):
    store = _store(tmp_path)
    job_id = _job(store, tmp_path / "a")
    assert store.get(job_id).status == "queued" and store.get("nope") is None
    assert store.update(job_id, expect=("queued",), status="running", slot="cpu")
    assert not store.update(job_id, expect=("queued",), status="running")  # a second claim fails
    assert store.busy_slots() == {"cpu"}
    assert store.name_taken("m") and not store.name_taken("other")


def test_restart_adopts_live_workers_and_fails_orphans_with_a_reason(tmp_path):
    store = _store(tmp_path)
    dead_out, live_out = tmp_path / "dead", tmp_path / "live"
    dead, live = _job(store, dead_out, "dead"), _job(store, live_out, "live")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    # a stand-in worker process whose command line names its job folder, as the real one does
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "train", "--out",
                               str(live_out)])
    try:
        for job_id, pid in ((dead, gone.pid), (live, worker.pid)):
            store.update(job_id, status="running", slot="cpu", pid=pid, started=time.time() - 100)
        sched = Scheduler(store=store, home=tmp_path, gpus=[])
        sched.recover()
        d = store.get(dead)
        assert d.status == "failed" and "server restarted" in d.reason and "no checkpoint" in d.reason
        assert store.get(live).status == "running"  # re-adopted
        assert store.get(dead).ended is not None
        worker.kill()
        worker.wait()
        sched.tick()
        lv = store.get(live)
        assert lv.status == "failed" and "without reporting an end" in lv.reason
    finally:
        if worker.poll() is None:
            worker.kill()


def test_cancelling_a_queued_job_and_refusing_bad_resumes(tmp_path):
    store = _store(tmp_path)
    sched = Scheduler(store=store, home=tmp_path, gpus=[])
    job_id = _job(store, tmp_path / "q")
    with pytest.raises(ValueError, match="only cancelled or failed"):
        sched.resume(job_id)
    assert sched.cancel(job_id).status == "cancelled"
    with pytest.raises(ValueError, match="nothing to resume"):
        sched.resume(job_id)
    with pytest.raises(ValueError, match="no job"):
        sched.cancel("missing")


def test_publish_is_atomic_unique_and_records_data_and_metrics(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDGAN_HOME", str(tmp_path / "home"))
    out = tmp_path / "run"
    out.mkdir()
    from medgan import checkpoints

    g, d = {"generator.w": torch.arange(4.0)}, {"discriminator.w": torch.ones(2, 2)}
    checkpoints.save_tensors(out / "model.safetensors", {**g, **d})
    (out / "model.json").write_text(json.dumps({"name": "x", "task": "synthesis", "family": "pix2pix",
                                                "generator": {"name": "pix2pix", "args": {}},
                                                "discriminator": {"name": "patchgan", "args": {}},
                                                "metrics": {}}))
    first = publish(out, "mine", data_desc="uploaded zip 'a.zip': 6 cases", command="python -m medgan train",
                    job_id="j1", val_metrics={"step": 5, "psnr": 21.0})
    second = publish(out, "mine", data_desc="d", command="c", job_id="j2")
    assert (first, second) == ("mine", "mine-2")
    folder = tmp_path / "home" / "checkpoints"
    card = json.loads((folder / "mine.json").read_text())
    assert card["name"] == "mine" and card["dataset"].startswith("uploaded zip") and card["job_id"] == "j1"
    assert card["metrics"]["val"] == {"psnr": 21.0}
    assert checkpoints.load_weights(folder / "mine.safetensors").keys() == g.keys()  # the generator file
    assert card["discriminator"] == {"name": "patchgan", "args": {}, "stored": True,
                                     "file": "mine.discriminator.safetensors", "storage": "float32"}
    assert torch.equal(checkpoints.load_weights(folder / "mine.discriminator.safetensors")["discriminator.w"],
                       d["discriminator.w"])
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    with pytest.raises(FileNotFoundError):
        publish(tmp_path, "none", data_desc="", command="", job_id="j3")
    from medgan.inference import list_cards

    bundled = [c.name for c in list_cards() if c.bundled]
    if bundled:  # a user model never shadows a bundled checkpoint of the same name
        assert publish(out, bundled[0], data_desc="d", command="c", job_id="j4") == f"{bundled[0]}-2"
        sched = Scheduler(store=_store(tmp_path), home=tmp_path, gpus=[])
        with pytest.raises(ValueError, match="already exists"):
            sched.submit(JobSpec(task="synthesis", arch="spade", data="phantoms", name=bundled[0]))


def test_a_job_is_published_once_when_two_processes_see_it_end(tmp_path, monkeypatch):
    """Two app processes sharing MEDGAN_HOME can both finish the same job: one checkpoint, one name for both."""
    import threading

    monkeypatch.setenv("MEDGAN_HOME", str(tmp_path / "home"))
    out = tmp_path / "run"
    out.mkdir()
    from medgan import checkpoints

    checkpoints.save_tensors(out / "model.safetensors", {"generator.w": torch.arange(4.0)})
    (out / "model.json").write_text(json.dumps({"name": "x", "task": "synthesis", "family": "pix2pix",
                                                "generator": {"name": "pix2pix", "args": {}}, "metrics": {}}))
    names: list[str] = []
    workers = [threading.Thread(target=lambda: names.append(publish(out, "twice", data_desc="d", command="c",
                                                                     job_id="j7"))) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert names == ["twice"] * 4
    assert sorted(p.name for p in (tmp_path / "home" / "checkpoints").iterdir()) == ["twice.json",
                                                                                      "twice.safetensors"]
    assert publish(out, "twice", data_desc="d", command="c", job_id="j8") == "twice-2"  # another job: its own


def test_data_choices(tmp_path, monkeypatch):
    assert prepare_data("embedded").arg == "embedded"
    assert prepare_data("phantoms").arg == "phantoms"
    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)
    with pytest.raises(DataChoiceError, match="disabled"):
        prepare_data("server", folder="x")
    with pytest.raises(DataChoiceError, match="upload"):
        prepare_data("upload")
    (tmp_path / "root").mkdir()
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "root"))
    with pytest.raises(DataChoiceError, match="outside"):
        prepare_data("server", folder="../")
    with pytest.raises(DataChoiceError, match="no folder"):
        prepare_data("server", folder="missing")
    text = tmp_path / "notes.txt"
    text.write_text("hi")
    with pytest.raises(DataChoiceError, match="not a zip"):
        prepare_data("upload", upload=text)
    with pytest.raises(DataChoiceError, match="unknown data source"):
        prepare_data("ftp")


def test_log_tail_collapses_progress_bars(tmp_path):
    (tmp_path / runner.LOG_NAME).write_text("$ python -m medgan train\n 10%|#\r 20%|##\r 30%|###\nfinished\n")
    assert runner.log_tail(tmp_path).splitlines() == ["$ python -m medgan train", " 30%|###", "finished"]
    assert runner.exit_reason(-9) == "the worker process was killed by SIGKILL"
    assert os.fspath(runner.PROJECT_ROOT / "medgan").endswith("medgan")


@pytest.mark.postgres
def test_job_store_on_postgresql(tmp_path):
    from tests.pg_server import PgServer, pg_or_skip_reason

    reason = pg_or_skip_reason()
    if reason:
        pytest.skip(reason)
    server = PgServer().start()
    try:
        engine = create_engine(server.url)
        store = JobStore(engine)
        job_id = _job(store, tmp_path / "pg")
        assert store.update(job_id, expect=("queued",), status="running", slot="cpu", pid=123)
        assert not store.update(job_id, expect=("queued",), status="running")
        assert store.busy_slots() == {"cpu"}
        row = store.get(job_id).to_dict()
        assert row["status"] == "running" and row["args"][:2] == ["--task", "synthesis"]
        assert [j.id for j in store.list(statuses=("running",))] == [job_id]
        engine.dispose()
    finally:
        server.stop()


def test_queue_one_job_per_slot(tmp_path):
    store = _store(tmp_path)
    first, second = _job(store, tmp_path / "a", "a"), _job(store, tmp_path / "b", "b")
    store.update(first, status="running", slot="cpu", pid=None, started=time.time())
    sched = Scheduler(store=store, home=tmp_path, gpus=[])
    sched._start_queued()  # the CPU slot is busy: the second job waits
    assert store.get(second).status == "queued"
    from medgan.jobs.view import queue_position

    assert queue_position(store.get(second), store.list()) == 1
    gpu = Scheduler(store=store, home=tmp_path, gpus=["cuda:0", "cuda:1"])
    job = store.get(second)
    job.device = "auto"
    assert gpu._pick_slot(job, {"cuda:0"}) == "cuda:1"
    assert gpu._pick_slot(job, {"cuda:0", "cuda:1"}) is None
    job.device = "cpu"
    assert gpu._pick_slot(job, {"cuda:0"}) == "cpu" and gpu._pick_slot(job, {"cpu"}) is None
