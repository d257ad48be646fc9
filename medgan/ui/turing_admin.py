"""Admin part of the Turing tab (only built when ``MEDGAN_ADMIN_PASSWORD`` is set).

Every handler is private to the API and checks the admin session token kept in the server-side session state
against :func:`medgan.turing.service.admin_guard` (tokens come only from a successful, rate-limited login), so a
client that reaches an event by index (fn_index) gets nothing without logging in.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable

import gradio as gr

from medgan.turing import service
from medgan.turing import study as st
from medgan.turing.results import charts, export_csv, study_summary, write_model_cards
from medgan.turing.store import StudyError
from medgan.turing.study_types import StudyOptions
from medgan.ui.common import client_host

logger = logging.getLogger(__name__)
PRIVATE = {"api_visibility": "private"}
REAL_CHOICES = ["Embedded held-out slices (val + test, 40; not used for training)", "Embedded test slices (20)",
                "All embedded slices (134, includes training slices)", "Uploaded images", "Server folder"]
EMBEDDED_BY_CHOICE = dict(zip(REAL_CHOICES[:3], ("embedded-heldout", "embedded-test", "embedded-all")))


def _require(admin: object) -> None:
    if not service.admin_guard().valid(admin):
        raise StudyError("unlock the admin panel with the admin password first")


def _studies() -> list[str]:
    return [s.name for s in service.get_store().list_studies()]


def unlock(password: str, request: gr.Request) -> tuple:
    token, message = service.admin_guard().login(password, client_host(request))
    if token:
        names = _studies()
        return (token, gr.Column(visible=True), message,
                gr.Dropdown(choices=names, value=names[-1] if names else None))
    return None, gr.Column(visible=False), f"⚠️ {message}", gr.Dropdown()


def create(admin: str | None, name: str, real_kind: str, files: list | None, folder: str, ckpts: list[str] | None,
           n_cases: float, real_fraction: float, seed: float, confidence: bool, n_practice: float,
           time_limit: float | None, revisit: bool, show_score: bool,
           allow_separable: bool = False) -> tuple[str, gr.Dropdown]:
    try:
        _require(admin)
        opts = StudyOptions(n_cases=int(n_cases), real_fraction=float(real_fraction), seed=int(seed),
                            confidence=bool(confidence), n_practice=int(n_practice),
                            time_limit_s=float(time_limit) if time_limit else None, allow_revisit=bool(revisit),
                            show_score=bool(show_score))
        opts.validate()
        if real_kind == "Uploaded images":
            paths = [getattr(f, "name", f) for f in (files or [])]
            if not paths:
                raise StudyError("upload the real images (PNG, JPEG, TIFF, DICOM or NIfTI)")
            real = st.files_real(paths)
        elif real_kind == "Server folder":
            real = st.folder_real(folder or "")
        else:
            real = st.embedded_real(EMBEDDED_BY_CHOICE.get(real_kind, "embedded-test"))
        if not ckpts:
            raise StudyError("choose at least one checkpoint to generate images from")
        info = st.create_study(name or "", opts, real=real, generated=list(ckpts), store=service.get_store(),
                               on_separable="warn" if allow_separable else "refuse")
        n = opts.n_cases + opts.n_practice
        check = (info.design or {}).get("presentation", {}).get("check_message", "")
        return (f"Created study **{info.name}** with {n} cases ({opts.n_practice} practice). Issue reader codes "
                f"below.\n\n{check}", gr.Dropdown(choices=_studies(), value=info.name))
    except (StudyError, ValueError) as exc:
        return f"⚠️ {exc}", gr.Dropdown()
    except Exception:  # noqa: BLE001
        logger.exception("study creation failed")
        return "⚠️ The study could not be created (server error; see the server log).", gr.Dropdown()


def set_status(admin: str | None, study: str, status: str) -> str:
    try:
        _require(admin)
        if not study:
            raise StudyError("choose a study")
        service.get_store().set_status(study, status)
        return f"Study **{study}** is now {status}."
    except StudyError as exc:
        return f"⚠️ {exc}"


def issue(admin: str | None, study: str, n: float) -> tuple[str, str]:
    try:
        _require(admin)
        if not study:
            raise StudyError("choose a study")
        codes = service.get_store().issue_codes(study, int(n or 0))
        text = "\n".join(f"{label}\t{code}" for label, code in codes)
        return text, f"Issued {len(codes)} codes. Copy them now: they are stored hashed and will not be shown again."
    except StudyError as exc:
        return "", f"⚠️ {exc}"


def results(admin: str | None, study: str) -> tuple:

    empty = ("", None, None, None, None, None, None, None, None, None)
    try:
        _require(admin)
        if not study:
            raise StudyError("choose a study")
        store = service.get_store()
        summary, rows = study_summary(store, study)
        figs = charts(summary, rows)
        folder = tempfile.mkdtemp(prefix="medgan-turing-export-")
        paths = export_csv(store, study, folder)
        per_reader = [[r["reader"], r["n"], round(r["accuracy"], 3), round(r["sensitivity"], 3),
                       round(r["specificity"], 3), round(r["auc"], 3) if r["auc"] == r["auc"] else None,
                       round(r["median_time_s"], 2)] for r in summary["per_reader"]]
        per_case = [[c["case"], c["truth"], c["source"], c["n"], round(c["fooled"], 3)]
                    for c in summary.get("per_case", [])]
        progress = [[r["reader"], r["kind"], r["answered"], r["finished"]] for r in store.reader_table(
            store.get_study(study).id)]
        return (service.summary_markdown(summary, study), per_reader, per_case, progress, figs["accuracy"],
                figs["roc"], figs["times"], figs["sources"], [str(p) for p in paths], "")
    except StudyError as exc:
        return (f"⚠️ {exc}",) + empty[1:]


def write_cards(admin: str | None, study: str, include_repo: bool) -> str:

    try:
        _require(admin)
        if not study:
            raise StudyError("choose a study")
        paths = write_model_cards(service.get_store(), study, include_repo=bool(include_repo))
        if not paths:
            return "No model card found for the study's checkpoints (nothing written)."
        return "Results written into: " + ", ".join(p.name for p in paths)
    except StudyError as exc:
        return f"⚠️ {exc}"


def build_admin(checkpoint_choices: Callable[[], list[str]]) -> None:
    admin = gr.State(None)  # the admin session token (server-side session state; never sent to the browser)
    seed = gr.State(0)  # the study's randomness is its own secret; the seed is kept for the options record
    with gr.Row():
        password = gr.Textbox(label="Admin password", type="password", scale=3, elem_id="turing-admin-password")
        unlock_btn = gr.Button("Unlock", scale=1, elem_id="turing-unlock")
    admin_msg = gr.Markdown()
    with gr.Column(visible=False) as panel:
        gr.Markdown("#### New study")
        with gr.Row():
            name = gr.Textbox(label="Study name")
            real_kind = gr.Radio(REAL_CHOICES, value=REAL_CHOICES[0], label="Real images")
        with gr.Row():
            files = gr.File(label="Uploaded real images", file_count="multiple")
            folder = gr.Textbox(label="Server folder (inside MEDGAN_TURING_REAL_DIR)")
        ckpts = gr.CheckboxGroup(checkpoint_choices(), label="Generated images from checkpoints")
        with gr.Row():
            n_cases = gr.Number(100, label="Cases", precision=0)
            real_fraction = gr.Slider(0, 1, 0.5, step=0.05, label="Real fraction")
            n_practice = gr.Number(0, label="Practice cases", precision=0)
            time_limit = gr.Number(0, label="Time limit per case (s, 0 = none)")
        with gr.Row():
            confidence = gr.Checkbox(True, label="Ask confidence 1–5")
            revisit = gr.Checkbox(False, label="Readers may revisit")
            show_score = gr.Checkbox(True, label="Show readers their score once their answers are locked")
            allow_separable = gr.Checkbox(False, label="Create even if an image statistic separates real from "
                                                       "generated")
        create_btn = gr.Button("Create study (renders all cases now)", variant="primary")
        create_msg = gr.Markdown()
        gr.Markdown("#### Manage")
        with gr.Row():
            study = gr.Dropdown(choices=[], label="Study")
            close_btn = gr.Button("Close")
            reopen_btn = gr.Button("Reopen")
        with gr.Row():
            n_codes = gr.Number(4, label="Reader codes to issue", precision=0)
            issue_btn = gr.Button("Issue codes")
        codes = gr.Textbox(label="Reader codes (shown once)", lines=4)
        manage_msg = gr.Markdown()
        gr.Markdown("#### Results")
        results_btn = gr.Button("Show results", elem_id="turing-results")
        summary = gr.Markdown(elem_id="turing-summary")
        per_reader = gr.Dataframe(headers=["reader", "votes", "accuracy", "sensitivity", "specificity", "AUC",
                                           "median s"], label="Per reader")
        per_case = gr.Dataframe(headers=["case", "truth", "source", "readers", "fooling rate"],
                                label="Per case (fooling rate = share of readers who got it wrong)")
        progress = gr.Dataframe(headers=["reader", "kind", "answered", "finished"], label="Reader progress")
        with gr.Row():
            acc_plot, roc_plot = gr.Plot(), gr.Plot()
        with gr.Row():
            time_plot, src_plot = gr.Plot(), gr.Plot()
        downloads = gr.File(label="Export (votes CSV, summary CSV, design JSON)", file_count="multiple")
        with gr.Row():
            include_repo = gr.Checkbox(False, label="Also bundled checkpoints in the repository")
            cards_btn = gr.Button("Write results into model cards")
        cards_msg = gr.Markdown()
    unlock_btn.click(unlock, [password], [admin, panel, admin_msg, study], **PRIVATE)
    create_btn.click(create, [admin, name, real_kind, files, folder, ckpts, n_cases, real_fraction, seed, confidence,
                              n_practice, time_limit, revisit, show_score, allow_separable], [create_msg, study],
                     **PRIVATE)
    close_btn.click(lambda a, s: set_status(a, s, "closed"), [admin, study], [manage_msg], **PRIVATE)
    reopen_btn.click(lambda a, s: set_status(a, s, "open"), [admin, study], [manage_msg], **PRIVATE)
    issue_btn.click(issue, [admin, study, n_codes], [codes, manage_msg], **PRIVATE)
    results_btn.click(results, [admin, study], [summary, per_reader, per_case, progress, acc_plot, roc_plot,
                                                time_plot, src_plot, downloads, cards_msg], **PRIVATE)
    cards_btn.click(write_cards, [admin, study, include_repo], [cards_msg], **PRIVATE)
