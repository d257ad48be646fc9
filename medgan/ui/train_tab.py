"""Train tab: fine-tune or train a GAN in a background process, watch it live, cancel, resume, publish.

``build_train_tab()`` is called inside ``with gr.Tab("Train"):``. Everything shown is read from the jobs table
and the run's folder on every refresh (``gr.Timer``), so a reload or another browser re-attaches to any job.
Named API endpoints for ``gradio_client``: ``/train_start``, ``/train_cancel``, ``/train_resume``,
``/train_status`` (JSON), ``/train_list`` (JSON), ``/train_download``, and ``/train_data_preview`` for an uploaded
zip (:mod:`medgan.ui.train_data_view`). Who may start, resume or cancel (the last
argument, ``admin_password``, on an open server): :mod:`medgan.ui.train_access`. The checkpoint list (``/models``)
is public and read-only: :mod:`medgan.ui.models_api`.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import gradio as gr

from medgan.checkpoints import DISCRIMINATOR_SUFFIX
from medgan.jobs import view
from medgan.jobs.data import DataChoiceError, prepare_data
from medgan.jobs.progress import Progress, read_progress
from medgan.jobs.publish import checkpoints_dir
from medgan.jobs.runner import log_tail
from medgan.jobs.scheduler import get_scheduler, gpu_name
from medgan.jobs.spec import CPU_SCALE, DEGRADATIONS, GPU_SCALE, TASKS, JobSpec, seed_hyper, task_archs
from medgan.jobs.store import JobRecord
from medgan.training.cpu_bf16 import bf16_cpu_note
from medgan.ui.train_access import build_password_box, require
from medgan.ui.train_choices import SCRATCH, init_choices, num_classes, on_init, parent_name
from medgan.ui.train_data_view import build_data_inputs

log = logging.getLogger(__name__)

REFRESH_S = 1.0


def device_note() -> str:
    name = gpu_name()
    if name:
        return f"🟢 CUDA GPU: **{name}** — jobs run with mixed precision, one job per GPU at a time."
    return f"⚠️ No GPU on this server: jobs run on the CPU, one at a time. {view.CPU_WARNING}"


def _defaults() -> Any:
    return GPU_SCALE if gpu_name() else CPU_SCALE


def _latest_job_id() -> str | None:
    jobs = get_scheduler().store.list(limit=50)
    for j in jobs:
        if j.status in ("running", "queued"):
            return j.id
    return jobs[0].id if jobs else None


# ---------------------------------------------------------------------------------------------- handlers
def on_task(task: str, arch: str) -> tuple:
    archs = task_archs().get(task, ())
    arch = arch if arch in archs else (archs[0] if archs else None)
    h = seed_hyper(task, arch) if arch else seed_hyper("synthesis", "pix2pix")
    return (gr.update(choices=list(archs), value=arch), gr.update(visible=task == "enhancement"),
            gr.update(choices=init_choices(task, arch), value=SCRATCH), h.lr_g, h.lr_d,
            h.lambda_l1 if h.lambda_l1 is not None else 0.0, h.n_critic)


def on_arch(task: str, arch: str) -> tuple:
    if arch not in task_archs().get(task, ()):
        return (gr.skip(),) * 5
    h = seed_hyper(task, arch)
    return (gr.update(choices=init_choices(task, arch), value=SCRATCH), h.lr_g, h.lr_d,
            h.lambda_l1 if h.lambda_l1 is not None else 0.0, h.n_critic)


def start_job(task: str, arch: str, degradation: str | None, init_from: str | None, data_source: str,
              upload: str | None, server_folder: str | None, steps: float, batch_size: float, lr_g: float,
              lr_d: float, lambda_l1: float, n_critic: float, image_size: Any, augment: bool,
              spectral_norm: bool, device: str, seed: float, name: str | None,
              ckpt_every: float | None = 0, ema_decay: float | None = 0, amp_cpu: bool = False,
              r1_gamma: float | None = None, g_args: str | None = "", freeze: str | None = "",
              warmup_steps: float | None = None, remove_data: bool = True, admin_password: str | None = "",
              request: gr.Request = None) -> tuple[str, Any]:
    """Validate the form and the data, then queue the job. Returns (message, job id); gr.Error when this visitor may
    not train (medgan.ui.train_access). ``remove_data``: an uploaded zip's data is removed once the job finished."""
    require(admin_password, request)
    init = parent_name(init_from)
    try:
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; valid: {', '.join(TASKS)}")
        data = prepare_data(data_source, upload, server_folder, num_classes(task, init))
        spec = JobSpec(task=task, arch=arch, degradation=degradation if task == "enhancement" else None,
                       data=data.arg, data_desc=data.description, init_from=init,
                       steps=int(steps or 0), batch_size=int(batch_size or 0), lr_g=lr_g, lr_d=lr_d,
                       lambda_l1=lambda_l1 if lambda_l1 is not None else None, n_critic=int(n_critic or 1),
                       image_size=int(image_size or 0), augment=bool(augment),
                       spectral_norm=bool(spectral_norm), device=device or "auto", seed=int(seed or 0),
                       name=(name or "").strip(), ckpt_every=int(ckpt_every or 0) or None,
                       ema_decay=ema_decay or None, amp_cpu=bool(amp_cpu),
                       r1_gamma=r1_gamma if task == "generation" and r1_gamma not in (None, "") else None,
                       g_args=g_args or "", freeze=freeze or "",
                       warmup_steps=None if warmup_steps in (None, "") else int(warmup_steps),
                       remove_data=bool(remove_data) and data_source == "upload")
        if seed_hyper(task, arch).lambda_l1 is None:
            spec.lambda_l1 = None
        job = get_scheduler().submit(spec)
    except (DataChoiceError, ValueError) as exc:
        gr.Warning(f"Not started: {exc}")
        return f"❌ **Not started:** {exc}", gr.skip()
    except Exception as exc:  # noqa: BLE001 - show plain words, keep the trace in the log
        log.exception("could not start a training job")
        return f"❌ **Not started:** unexpected error ({type(exc).__name__}: {exc})", gr.skip()
    return f"✅ Job `{job.id}` queued ({job.name}).", job.id


def _act(action: str, job_id: str | None, admin_password: str | None, request: Any) -> str:
    require(admin_password, request)
    if not job_id:
        return "❌ Pick a job first."
    sched = get_scheduler()
    try:
        job = sched.cancel(job_id) if action == "cancel" else sched.resume(job_id)
    except ValueError as exc:
        gr.Warning(str(exc))
        return f"❌ {exc}"
    if action == "cancel":
        return (f"⏹ Job `{job.id}` cancelled." if job.status == "cancelled"
                else f"⏹ Stopping job `{job.id}` after its current step (a checkpoint is written first)…")
    return f"▶️ Job `{job.id}` queued to resume from its last checkpoint."


def cancel_job(job_id: str | None, admin_password: str | None = "", request: gr.Request = None) -> str:
    """Cancel a queued job, or stop a running one after its current step (keeps the last checkpoint)."""
    return _act("cancel", job_id, admin_password, request)


def resume_job(job_id: str | None, admin_password: str | None = "", request: gr.Request = None) -> str:
    """Queue a cancelled or failed job to continue from its last checkpoint."""
    return _act("resume", job_id, admin_password, request)


def train_status(job_id: str) -> dict:
    """JSON status of one job: row, progress, latest losses and validation metrics, log tail."""
    store = get_scheduler().store
    job = store.get(job_id) if isinstance(job_id, str) and job_id else None
    if job is None:
        return {"error": f"no job with id {job_id!r}"}
    return view.job_digest(job, store.list(statuses=("queued",)))


def train_list() -> list:
    """All jobs (newest first) as JSON rows."""
    return [j.to_dict() for j in get_scheduler().store.list(limit=200)]


def download_model(job_id: str | None) -> list[str] | None:
    """The published checkpoint of a finished job: ``<name>.safetensors``, its discriminator
    ``<name>.discriminator.safetensors`` (when stored) and its model card ``<name>.json``."""
    job = get_scheduler().store.get(job_id) if job_id else None
    if job is None or not job.published:
        gr.Warning("This job has no published model yet (it appears when the job finishes).")
        return None

    src = checkpoints_dir()
    dest = Path(os.environ.get("GRADIO_TEMP_DIR") or tempfile.gettempdir()) / "medgan-downloads" / uuid.uuid4().hex
    dest.mkdir(parents=True)
    files = []
    for ext in (".safetensors", DISCRIMINATOR_SUFFIX, ".json"):
        path = src / f"{job.published}{ext}"
        if path.exists():
            shutil.copy2(path, dest / path.name)
            files.append(str(dest / path.name))
    return files or None


def _sample_image(job: JobRecord, p: Any) -> Any:
    if not p.sample:
        return None
    path = Path(job.out_dir) / p.sample
    latest = Path(job.out_dir) / "samples" / "latest.png"
    for candidate in (path, latest):
        try:
            from PIL import Image

            with Image.open(candidate) as im:
                return im.convert("RGB").copy()
        except (OSError, ValueError):
            continue
    return None


def refresh(job_id: str | None, seen: dict | None) -> tuple:
    """Everything the monitor shows for ``job_id``; heavy outputs are skipped when nothing new arrived."""
    store = get_scheduler().store
    jobs = store.list(limit=100)
    frame = view.jobs_frame(jobs)
    seen = seen or {}
    ids = [j.id for j in jobs]
    picker = gr.update(choices=view.job_choices(jobs)) if ids != seen.get("ids") else gr.skip()
    job = store.get(job_id) if job_id else None
    if job is None:
        return (view.status_markdown(None, None), view.loss_figure(Progress()), view.val_table(Progress()),
                None, "", frame, gr.update(interactive=False), gr.update(interactive=False), picker, {"ids": ids})
    p = read_progress(job.out_dir)
    key = {"job": job.id, "records": p.records, "status": job.status, "ids": ids}
    new_job = seen.get("job") != job.id
    changed = new_job or seen.get("records") != p.records
    md = view.status_markdown(job, p, view.queue_position(job, jobs))
    fig = view.loss_figure(p, f"{job.arch} · {job.task}") if changed else gr.skip()
    vals = view.val_table(p) if changed else gr.skip()
    sample = _sample_image(job, p) if new_job or seen.get("sample_step") != p.sample_step else gr.skip()
    key["sample_step"] = p.sample_step
    logtxt = log_tail(job.out_dir, lines=30)
    can_cancel = job.status in ("queued", "running")
    can_resume = job.status in ("cancelled", "failed")
    return (md, fig, vals, sample, logtxt, frame, gr.update(interactive=can_cancel),
            gr.update(interactive=can_resume), picker, key)


def on_load() -> Any:
    """Re-attach: the job list from the database, the running (or newest) job selected."""
    return gr.update(choices=view.job_choices(get_scheduler().store.list(limit=100)), value=_latest_job_id())


# ---------------------------------------------------------------------------------------------- layout
def build_train_tab() -> None:
    """Build the Train tab's components and events inside the current ``gr.Tab``."""
    get_scheduler()  # starts the queue thread; re-adopts or closes jobs left by an earlier server
    d = _defaults()
    archs = task_archs()
    task0, arch0 = "synthesis", archs["synthesis"][0]
    h0 = seed_hyper(task0, arch0)
    with gr.Row():
        with gr.Column(scale=4, min_width=320):
            gr.Markdown("### New training job")
            gr.Markdown(device_note(), elem_id="train-device-note")
            task = gr.Dropdown(list(TASKS), value=task0, label="Task", elem_id="train-task")
            arch = gr.Dropdown(list(archs[task0]), value=arch0, label="Architecture", allow_custom_value=True,
                               elem_id="train-arch")
            degradation = gr.Dropdown(list(DEGRADATIONS), value="denoise", label="Degradation", visible=False)
            init_from = gr.Dropdown(init_choices(task0, arch0), value=SCRATCH, label="Start from (fine-tune)",
                                    allow_custom_value=True, elem_id="train-init")
            data = build_data_inputs(task, init_from)
            with gr.Accordion("Hyper-parameters (seed defaults)", open=False):
                with gr.Row():
                    steps = gr.Number(d.steps, label="Steps", precision=0, minimum=1, elem_id="train-steps")
                    batch_size = gr.Number(d.batch_size, label="Batch size", precision=0, minimum=1)
                    image_size = gr.Dropdown([16, 32, 64, 128, 256], value=d.image_size, label="Image size",
                                             allow_custom_value=True, elem_id="train-size")
                with gr.Row():
                    lr_g = gr.Number(h0.lr_g, label="Generator lr")
                    lr_d = gr.Number(h0.lr_d, label="Discriminator lr")
                    lambda_l1 = gr.Number(h0.lambda_l1, label="λ L1")
                    n_critic = gr.Number(h0.n_critic, label="n_critic", precision=0, minimum=1)
                with gr.Row():
                    augment = gr.Checkbox(False, label="Augment (flips, ±15° rotation, ±15 px shift)")
                    spectral_norm = gr.Checkbox(False, label="Spectral norm")
                with gr.Row():
                    device = gr.Radio(["auto", "cpu", "cuda"] if gpu_name() else ["auto", "cpu"], value="auto",
                                      label="Device")
                    seed = gr.Number(0, label="Seed", precision=0)
                    ckpt_every = gr.Number(0, label="Checkpoint every N steps (0 = auto)", precision=0, minimum=0)
            with gr.Accordion("Advanced", open=False, elem_id="train-advanced"):
                with gr.Row():
                    ema_decay = gr.Number(0, label="EMA decay (0 = off)", minimum=0, maximum=0.99999,
                                          info="Keep a moving average of the generator (e.g. 0.999); the average is "
                                               "what gets published — usually steadier samples.",
                                          elem_id="train-ema")
                    amp_cpu = gr.Checkbox(False, label="bf16 on CPU", elem_id="train-amp-cpu",
                                          info="Mixed precision on the CPU, slightly less precise. "
                                               + bf16_cpu_note())
                with gr.Row():
                    r1_gamma = gr.Number(None, label="R1 γ (generation)", minimum=0, elem_id="train-r1",
                                         info="Penalty on the discriminator's gradient at real images; empty = the "
                                              "preset's (1 for the DCGAN family).")
                    g_args = gr.Textbox("", label="Model size (generator arguments)", elem_id="train-gargs",
                                        placeholder="e.g. ngf=32 skip=true",
                                        info="Generator constructor arguments over the preset's (from scratch "
                                             "only: a fine-tune keeps its parent's).")
                with gr.Row():
                    freeze = gr.Dropdown([("nothing", ""), ("encoder", "encoder"), ("early layers", "early")],
                                         value="", label="Freeze (fine-tunes)", elem_id="train-freeze",
                                         allow_custom_value=True,
                                         info="Generator parts that do not train: the U-Net encoder or the first "
                                              "half of the layers; the card names them.")
                    warmup_steps = gr.Number(None, label="Warm-up steps", precision=0, minimum=0,
                                             elem_id="train-warmup",
                                             info="Linear learning-rate warm-up; empty = a tenth of the run (at "
                                                  "most 100) for fine-tunes, none from scratch.")
            name = gr.Textbox(label="Model name (optional)", placeholder="e.g. spade_synthesis_my_scans",
                              elem_id="train-name")
            admin_password = build_password_box()
            start = gr.Button("Start training", variant="primary", elem_id="train-start")
            message = gr.Markdown(elem_id="train-message")
        with gr.Column(scale=6, min_width=420):
            gr.Markdown("### Jobs")
            with gr.Row():
                job = gr.Dropdown([], label="Job", allow_custom_value=True, elem_id="train-job", scale=4)
                cancel = gr.Button("Cancel", variant="stop", interactive=False, elem_id="train-cancel", scale=1)
                resume = gr.Button("Resume", interactive=False, elem_id="train-resume", scale=1)
            status = gr.Markdown(view.status_markdown(None, None), elem_id="train-status")
            plot = gr.Plot(label="Loss curves", elem_id="train-plot")
            with gr.Row():
                sample = gr.Image(label="Latest samples", type="pil", interactive=False, height=280,
                                  elem_id="train-sample")
                vals = gr.Dataframe(label="Validation metrics", interactive=False, elem_id="train-val")
            logbox = gr.Textbox(label="Log (tail)", lines=10, max_lines=10, interactive=False, autoscroll=True,
                                elem_id="train-log")
            with gr.Row():
                download = gr.Button("Download model (safetensors + card)", elem_id="train-download")
                files = gr.File(label="Model files", file_count="multiple", interactive=False)
            jobs_df = gr.Dataframe(label="All jobs (queue: queued jobs start in order)", interactive=False,
                                   elem_id="train-jobs")
    seen = gr.State({})
    timer = gr.Timer(REFRESH_S)

    task.change(on_task, [task, arch], [arch, degradation, init_from, lr_g, lr_d, lambda_l1, n_critic],
                api_visibility="private")
    arch.change(on_arch, [task, arch], [init_from, lr_g, lr_d, lambda_l1, n_critic], api_visibility="private")
    init_from.change(on_init, [task, arch, init_from, image_size], [image_size, lr_g, lr_d], api_visibility="private")
    start.click(start_job, [task, arch, degradation, init_from, data.source, data.upload, data.server_folder, steps,
                            batch_size, lr_g, lr_d, lambda_l1, n_critic, image_size, augment, spectral_norm,
                            device, seed, name, ckpt_every, ema_decay, amp_cpu, r1_gamma, g_args, freeze,
                            warmup_steps, data.remove_data, admin_password], [message, job],
                api_name="train_start", concurrency_limit=2)
    cancel.click(cancel_job, [job, admin_password], message, api_name="train_cancel", concurrency_limit=4)
    resume.click(resume_job, [job, admin_password], message, api_name="train_resume", concurrency_limit=4)
    download.click(download_model, job, files, api_name="train_download", concurrency_limit=4)
    outs = [status, plot, vals, sample, logbox, jobs_df, cancel, resume, job, seen]
    kw: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden", "concurrency_limit": 8,
                          "concurrency_id": "train_view"}
    timer.tick(refresh, [job, seen], outs, **kw)
    job.change(refresh, [job, seen], outs, **kw)
    gr.api(train_status, api_name="train_status", concurrency_limit=8, concurrency_id="train_view")
    gr.api(train_list, api_name="train_list", concurrency_limit=8, concurrency_id="train_view")
    root = gr.context.Context.root_block
    if root is not None:
        root.load(on_load, None, job, api_visibility="private")
