"""The Train tab on a live server (``python app.py``), driven through its API with gradio_client and in Chromium.

Real parts only: the real training loop (``python -m medgan train`` on phantoms, 32 px), the real SQLite jobs
table, real worker processes and signals. The server shares this process's MEDGAN_HOME so the published
checkpoint can be loaded here with ``medgan.inference``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import select
import signal
import struct
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.live_server import LiveApp

gradio_client = pytest.importorskip("gradio_client")

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
TINY = {"task": "synthesis", "arch": "pix2pix", "steps": 60, "batch": 2, "size": 32}
LONG = 80  # the cancel/resume job (its worker is paused while the cancel is sent: it lands at the next step)


@pytest.fixture(scope="module")
def app():
    # an open server for local use (no login, no admin password, not a Space): anyone who reaches it may train
    env = {"MEDGAN_HOME": os.environ["MEDGAN_HOME"], "MEDGAN_LOG_LEVEL": "WARNING", "MEDGAN_AUTH": "",
           "MEDGAN_ADMIN_PASSWORD": "", "SPACE_ID": "", "MEDGAN_UPLOAD_MAX_MB": "2"}
    with LiveApp(env=env, timeout=180, warm_workers=True) as live:
        client = gradio_client.Client(live.url, verbose=False)
        live.client = client
        yield live
        for job in client.predict(api_name="/train_list"):  # leave no worker behind
            if job["status"] in ("queued", "running"):
                client.predict(job["id"], api_name="/train_cancel")
        _wait(client, lambda: all(j["status"] not in ("queued", "running")
                                  for j in client.predict(api_name="/train_list")), 60, "clean-up")


def _start(client, steps: int = TINY["steps"], source: str = "phantoms", upload=None, name: str = "",
           task: str = TINY["task"], arch: str = TINY["arch"], ckpt_every: int = 0, **kw):
    return client.predict(task, arch, "denoise", "(from scratch)", source, upload, None, steps, TINY["batch"],
                          2e-4, 2e-4, 100, 1, TINY["size"], False, False, "cpu", 0, name,
                          ckpt_every, api_name="/train_start", **kw)


def _status(client, job_id: str) -> dict:
    return client.predict(job_id, api_name="/train_status")


def _wait(client, cond, timeout: float, what: str, job_id: str | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.3)
    extra = json.dumps(_status(client, job_id), indent=1, default=str)[-3000:] if job_id else ""
    raise AssertionError(f"timed out waiting for {what}\n{extra}")


def test_start_progress_cancel_resume_finish_and_synthesize(app):
    c = app.client
    message, job_id = _start(c, steps=LONG, name="live_p2p")
    assert "queued" in message and job_id
    s = _wait(c, lambda: (st := _status(c, job_id))["step"] >= 1 and st["pid"] and st, 120, "progress", job_id)
    os.kill(s["pid"], signal.SIGSTOP)  # however fast this CPU, the cancel lands on the worker's next step
    try:
        assert s["status"] == "running" and s["report"]["device"] == "cpu" and s["report"]["losses"]
        assert s["report"]["total"] == LONG and s["report"]["it_s"] > 0
        assert "python -m medgan train" in s["log_tail"]
        assert "Stopping" in c.predict(job_id, api_name="/train_cancel")
    finally:
        os.kill(s["pid"], signal.SIGCONT)
    first = s["step"]
    s = _wait(c, lambda: (st := _status(c, job_id))["status"] != "running" and st, 60, "cancel", job_id)
    assert s["status"] == "cancelled", s["reason"]
    stopped_at = s["report"]["checkpoint_step"]  # the checkpoint written on cancel
    assert first <= s["step"] <= stopped_at < LONG and s["has_checkpoint"]
    out = Path(s["out_dir"])
    assert json.loads((out / "train_state.json").read_text())  # resume state written on cancel
    assert "only queued or running" in c.predict(job_id, api_name="/train_cancel")

    assert "resume" in c.predict(job_id, api_name="/train_resume")
    _wait(c, lambda: (st := _status(c, job_id))["status"] != "cancelled" and st["step"] > stopped_at, 120,
          "progress after the resume", job_id)
    s = _wait(c, lambda: (st := _status(c, job_id))["status"] in ("finished", "failed") and st, 600,
              "finish", job_id)
    assert s["status"] == "finished", s["reason"]
    assert s["step"] == LONG
    steps = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    resumed = [r for r in steps if r["type"] == "start"][-1]
    assert resumed["start_step"] == stopped_at  # continued from the cancel checkpoint, not from scratch
    assert s["published"] == "live_p2p"

    files = c.predict(job_id, api_name="/train_download")
    assert sorted(Path(f).name for f in files) == ["live_p2p.discriminator.safetensors", "live_p2p.json",
                                                    "live_p2p.safetensors"]
    card = json.loads(Path(next(f for f in files if f.endswith(".json"))).read_text())
    assert card["name"] == "live_p2p" and "phantoms" in card["dataset"] and card["job_id"] == job_id
    assert card["training_command"].startswith("python -m medgan train")

    from medgan.data.phantoms import phantom
    from medgan.inference import list_cards
    from medgan.tasks import synthesize

    assert "live_p2p" in [card.name for card in list_cards("synthesis")]  # the Studio's pickers see it
    _, labels = phantom(TINY["size"], seed=3)
    result = synthesize(labels, "live_p2p")
    assert result.output.shape == labels.shape and np.isfinite(result.output).all()


def test_models_endpoint_lists_checkpoints_read_only(app):
    c = app.client
    rows = c.predict(api_name="/models")
    by_name = {r["name"]: r for r in rows}
    hinge = by_name["hingegan_generation"]
    assert (hinge["task"], hinge["image_size"], hinge["bundled"]) == ("generation", 64, True)
    assert hinge["metrics"]["generation"]["fd_medgan_vs_train"] > 0 and hinge["steps"] > 18_000
    assert "domain" in hinge
    only = c.predict("synthesis", api_name="/models")
    assert only and {r["task"] for r in only} == {"synthesis"}
    assert len(c.predict(api_name="/models")) == len(rows)  # listing changes nothing


def test_bad_parents_are_refused_before_anything_is_queued(app):
    c = app.client
    before = len(c.predict(api_name="/train_list"))

    def start(init: str, size: int) -> str:
        return c.predict("generation", "hingegan", "denoise", init, "embedded", None, None, 5, 2, 5e-5, 5e-5, 0, 1,
                         size, False, False, "cpu", 0, "", 0, api_name="/train_start")[0]

    assert "Not started" in (m := start("no_such_model", 64)) and "no checkpoint named 'no_such_model'" in m
    assert "Not started" in (m := start("hingegan_generation", 128)) and "64 px" in m and "128 px" in m
    assert "Not started" in (m := start("pix2pix_synthesis", 64)) and "synthesis model" in m
    assert len(c.predict(api_name="/train_list")) == before


def _kill_during_checkpoint_write(out: Path, pid: int, timeout: float) -> str:
    """Watch ``out`` with inotify; when a new model file is being written (its temporary file exists) and an
    earlier checkpoint is on disk, freeze the worker, confirm the write is still in progress, SIGKILL it."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    fd = libc.inotify_init1(os.O_NONBLOCK)
    assert fd >= 0
    try:
        assert libc.inotify_add_watch(fd, str(out).encode(), 0x100) >= 0  # IN_CREATE
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not select.select([fd], [], [], 0.5)[0]:
                continue
            buf = os.read(fd, 65536)
            i = 0
            while i < len(buf):
                _, _, _, n = struct.unpack_from("iIII", buf, i)
                name = buf[i + 16: i + 16 + n].rstrip(b"\0").decode()
                i += 16 + n
                if not (name.startswith(".model.safetensors") and name.endswith(".tmp")):
                    continue
                if not (out / "model.safetensors").exists():
                    continue
                os.kill(pid, signal.SIGSTOP)
                if (out / name).exists():
                    os.kill(pid, signal.SIGKILL)
                    return name
                os.kill(pid, signal.SIGCONT)  # the write had already finished: wait for the next one
    finally:
        os.close(fd)
    raise AssertionError("no checkpoint write was caught")


def test_worker_killed_during_checkpoint_write(app):
    from safetensors.torch import load_file

    c = app.client
    _, job_id = _start(c, steps=200, name="live_killed", ckpt_every=1)
    s = _wait(c, lambda: (st := _status(c, job_id))["pid"] and st, 60, "the worker", job_id)
    tmp = _kill_during_checkpoint_write(Path(s["out_dir"]), s["pid"], timeout=150)
    out = Path(s["out_dir"])
    s = _wait(c, lambda: (st := _status(c, job_id))["status"] != "running" and st, 30, "failure", job_id)
    assert s["status"] == "failed"
    # the reason names the death (SIGKILL when this server reaped the worker itself) and the kept checkpoint
    assert ("SIGKILL" in s["reason"] or "ended without reporting an end" in s["reason"]) and "checkpoint" in s["reason"]
    assert (out / tmp).exists()  # the interrupted write never replaced the model
    weights = load_file(out / "model.safetensors")
    assert any(k.startswith("generator.") for k in weights)
    assert all(np.isfinite(v.numpy()).all() for v in weights.values())
    assert json.loads((out / "model.json").read_text())["task"] == "synthesis"


def _zip(path: Path, files: dict[str, bytes]) -> str:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return str(path)


def _png(arr: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_invalid_uploads_are_rejected_and_start_nothing(app, tmp_path):
    pytest.importorskip("medgan.data.folders", reason="folder datasets are not installed")
    from gradio_client import handle_file

    c = app.client
    before = len(c.predict(api_name="/train_list"))
    img = _png((np.random.default_rng(0).random((32, 32)) * 255).astype(np.uint8))
    bad_label = _png(np.full((32, 32), 200, np.uint8))
    good_label = _png(np.zeros((32, 32), np.uint8))
    small = _png(np.zeros((16, 16), np.uint8))
    cases = {
        "missing masks": {f"images/{i}.png": img for i in range(6)},
        "wrong label values": {**{f"images/{i}.png": img for i in range(6)},
                               **{f"masks/{i}.png": bad_label for i in range(6)}},
        "mismatched sizes": {**{f"images/{i}.png": img for i in range(6)},
                             **{f"masks/{i}.png": small for i in range(6)}},
        "too few cases": {"images/0.png": img, "masks/0.png": good_label},
        "not a dataset": {"readme.txt": b"hello"},
    }
    for what, files in cases.items():
        message, _ = _start(c, source="upload", upload=handle_file(_zip(tmp_path / "d.zip", files)))
        assert message.startswith("❌ **Not started:**"), (what, message)
        assert "Traceback" not in message
    message, _ = _start(c, source="upload", upload=None)
    assert "Not started" in message and "zip" in message
    assert len(c.predict(api_name="/train_list")) == before


def test_an_uploaded_zip_is_previewed_limited_and_removed_when_its_job_finishes(app, tmp_path):
    pytest.importorskip("medgan.data.folders", reason="folder datasets are not installed")
    from gradio_client import handle_file

    from medgan.data.phantoms import phantom
    from medgan.jobs.data import upload_folder, uploads_dir

    c = app.client
    files = {}
    for i in range(5):
        img, lab = phantom(TINY["size"], seed=i)
        files[f"scans/images/{i}.png"] = _png((img * 255).astype(np.uint8))
        files[f"scans/masks/{i}.png"] = _png(lab)
    good = _zip(tmp_path / "scans.zip", files)
    before = set(uploads_dir().iterdir()) if uploads_dir().exists() else set()
    summary, gallery = c.predict(handle_file(good), TINY["task"], "(from scratch)", api_name="/train_data_preview")
    assert "5 case(s)" in summary and f"{TINY['size']}×{TINY['size']} (5 cases)" in summary
    assert "label values found: 0, " in summary and len(gallery) == 4
    assert all(Path(item["image"]).exists() for item in gallery)  # pictures of the pairs, served as files
    assert len(set(uploads_dir().iterdir()) - before) == 1  # extracted once, before any job

    big = tmp_path / "big.zip"  # over the server's 2 MiB limit
    with zipfile.ZipFile(big, "w", zipfile.ZIP_STORED) as z:
        z.writestr("scans/images/noise.bin", np.random.default_rng(0).bytes(2_600_000))
    summary, gallery = c.predict(handle_file(str(big)), TINY["task"], "(from scratch)",
                                 api_name="/train_data_preview")
    assert "cannot be used" in summary and "2.5 MiB" in summary and "limit of 2.0 MiB" in summary and not gallery
    assert len(set(uploads_dir().iterdir()) - before) == 1  # nothing of it kept
    message, _ = _start(c, source="upload", upload=handle_file(str(big)))
    assert "Not started" in message and "too large" in message

    message, job_id = _start(c, steps=2, source="upload", upload=handle_file(good), name="live_upload",
                             remove_data=True)
    assert "queued" in message, message
    s = _wait(c, lambda: (st := _status(c, job_id))["status"] not in ("queued", "running") and st, 240,
              "the upload job", job_id)
    assert s["status"] == "finished" and s["remove_data"], s["reason"]
    card = json.loads((Path(os.environ["MEDGAN_HOME"]) / "checkpoints" / "live_upload.json").read_text())
    assert "uploaded zip 'scans.zip': 5 case(s)" in card["dataset"]
    data = s["args"][s["args"].index("--data") + 1]
    assert upload_folder(data) is not None and not upload_folder(data).exists()  # removed with the job's end
    assert set(uploads_dir().iterdir()) - before == set()


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"browser tests need Debian's Chromium at {CHROMIUM}; skipped")
def test_browser_start_and_cancel(app, artifacts_dir):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(app.url)
            page.get_by_role("tab", name="Train").click()
            page.locator("#train-data").get_by_text("procedural phantoms").click()
            page.get_by_text("Hyper-parameters").click()
            page.get_by_text("Advanced", exact=True).click()
            expect(page.locator("#train-ema")).to_contain_text("moving average of the generator")
            expect(page.locator("#train-freeze")).to_be_visible()
            steps = page.locator("#train-steps input")
            steps.fill("500")
            size = page.locator("#train-size input")
            size.fill("32")
            size.press("Enter")
            page.locator("#train-name").get_by_role("textbox").fill("browser_job")
            page.locator("#train-start").click()
            expect(page.locator("#train-message")).to_contain_text("queued", timeout=30_000)
            expect(page.locator("#train-status")).to_contain_text("RUNNING", timeout=60_000)
            expect(page.locator("#train-status")).to_contain_text("it/s", timeout=120_000)  # a step ran
            page.screenshot(path=str(artifacts_dir / "train_running.png"), full_page=True)
            page.reload()  # re-attach: the page finds the running job from the database
            page.get_by_role("tab", name="Train").click()
            expect(page.locator("#train-status")).to_contain_text("browser_job", timeout=30_000)
            expect(page.locator("#train-status")).to_contain_text("RUNNING", timeout=30_000)
            page.locator("#train-cancel").click()
            expect(page.locator("#train-status")).to_contain_text("CANCELLED", timeout=90_000)
            page.screenshot(path=str(artifacts_dir / "train_cancelled.png"), full_page=True)
        finally:
            browser.close()
    jobs = [j for j in app.client.predict(api_name="/train_list") if j["name"] == "browser_job"]
    assert len(jobs) == 1 and jobs[0]["status"] == "cancelled" and jobs[0]["total_steps"] == 500
