"""The "Turing test" tab: blinded reader sessions and the study admin (create, codes, close/reopen, results).

Reader events are public API endpoints (``/turing_start``, ``/turing_vote_real``, ``/turing_vote_generated``,
``/turing_previous``, ``/turing_lock``) whose responses hold only the case image, an opaque token and progress
text. Window/level and zoom are applied in the browser, the same to every case (an SVG filter and a CSS variable),
so they need no server round trip and carry nothing about the truth. Admin events
are private (``api_visibility="private"``) and also check the server-side admin flag on every call.
"""

from __future__ import annotations

import logging

import gradio as gr

from medgan.turing import service
from medgan.turing.service import ReaderView
from medgan.turing.store import StudyError

logger = logging.getLogger(__name__)
READER_LIMIT = 32
ADMIN_DISABLED = ("**Admin functions are disabled.** Set the environment variable `MEDGAN_ADMIN_PASSWORD` "
                  "before starting the app to create studies, issue reader codes and see results.")


def _open_studies() -> list[str]:
    try:
        return [s.name for s in service.get_store().list_studies() if s.status == "open"]
    except Exception:  # noqa: BLE001 - an unreachable database must not break the UI build
        logger.exception("could not list Turing studies")
        return []


def _checkpoint_choices() -> list[str]:
    try:
        from medgan.inference import list_cards
    except ImportError:
        return []
    try:
        cards = list_cards()
    except Exception:  # noqa: BLE001
        logger.exception("could not list checkpoints")
        return []
    out = []
    for c in cards:
        get = c.get if isinstance(c, dict) else (lambda k, d=None, c=c: getattr(c, k, d))
        if get("task") in ("generation", "synthesis"):
            out.append(get("name"))
    return sorted(out)


def _reader_outputs(state: dict | None, view: ReaderView) -> tuple:
    return (state, view.image_html, view.token, view.position, view.progress, view.message,
            gr.Radio(value=None, visible=not view.finished), gr.Column(visible=not view.finished or view.revisit),
            gr.Button(visible=view.revisit), gr.Button(visible=view.can_lock),
            gr.Row(visible=not view.finished), gr.Button(visible=not view.finished),
            gr.Button(visible=not view.finished))


def _reader_error(state: dict | None, message: str) -> tuple:
    return (state, gr.HTML(), gr.Textbox(), gr.Number(), gr.Markdown(), f"⚠️ {message}", gr.Radio(),
            gr.Column(), gr.Button(), gr.Button(), gr.Row(), gr.Button(), gr.Button())


def _resolve_reader(state: dict | None):  # noqa: ANN202
    if not state or "reader_id" not in state:
        raise StudyError("start the study first (enter your reader code and press Start)")
    return service.get_store().reader(int(state["reader_id"]))


def reader_start(study_name: str | None, code: str | None, request: gr.Request) -> tuple:
    """Log a reader in (auth username, else reader code) and show their first unanswered case."""
    store = service.get_store()
    try:
        username = getattr(request, "username", None) if request is not None else None
        if username:
            if not study_name:
                raise StudyError("choose a study")
            reader = store.reader_for_user(study_name, username)
        else:
            if not code or not code.strip():
                raise StudyError("enter the reader code you were given (like ABCD-EFGH-JKLM)")
            reader = store.reader_by_code_any(code.strip())
        if store.get_study(reader.study_id).status != "open":
            raise StudyError("this study is closed")
        state = {"reader_id": reader.id}
        return _reader_outputs(state, service.current_view(store, reader, "Welcome. Is each image real or generated?"))
    except StudyError as exc:
        return _reader_error(None, str(exc))
    except Exception:  # noqa: BLE001 - never show a stack trace
        logger.exception("turing start failed")
        return _reader_error(None, "The study could not be opened (server error). Please try again.")


def _vote(choice: str, token: str, confidence: int | None, state: dict | None) -> tuple:
    try:
        reader = _resolve_reader(state)
        conf = None if confidence in (None, "") else int(confidence)
        return _reader_outputs(state, service.vote(service.get_store(), reader, token or "", choice, conf))
    except StudyError as exc:
        return _reader_error(state, str(exc))
    except Exception:  # noqa: BLE001
        logger.exception("turing vote failed")
        return _reader_error(state, "Your answer could not be saved (server error). Please press the button again.")


def vote_real(token: str, confidence: int | None, state: dict | None) -> tuple:
    """Answer "real" for the case ``token`` (committed before the next case is returned)."""
    return _vote("real", token, confidence, state)


def vote_generated(token: str, confidence: int | None, state: dict | None) -> tuple:
    """Answer "generated" for the case ``token`` (committed before the next case is returned)."""
    return _vote("generated", token, confidence, state)


def reader_previous(position: float | None, state: dict | None) -> tuple:
    """Go back one case (only in studies that allow revisiting)."""
    try:
        reader = _resolve_reader(state)
        return _reader_outputs(state, service.previous_view(service.get_store(), reader, int(position or 0)))
    except StudyError as exc:
        return _reader_error(state, str(exc))


def reader_lock(state: dict | None) -> tuple:
    """Make the reader's answers final (then the end screen, with the score when the study shows it)."""
    try:
        reader = _resolve_reader(state)
        return _reader_outputs(state, service.lock(service.get_store(), reader))
    except StudyError as exc:
        return _reader_error(state, str(exc))


# One SVG filter for every case: a linear transfer (slope 1/width, intercept 0.5 - level/width) on the displayed
# grey values, i.e. the window [level - width/2, level + width/2] mapped to black…white.
VIEW_FILTER = ('<svg width="0" height="0" style="position:absolute" aria-hidden="true"><filter id="turing-wl" '
               'color-interpolation-filters="sRGB"><feComponentTransfer>'
               '<feFuncR type="linear" slope="1" intercept="0"/><feFuncG type="linear" slope="1" intercept="0"/>'
               '<feFuncB type="linear" slope="1" intercept="0"/></feComponentTransfer></filter></svg>')
VIEW_JS = """(level, width, zoom) => {
  const w = Math.max(Number(width) || 1, 0.01), l = Number(level), z = Math.max(Number(zoom) || 1, 1);
  document.querySelectorAll('#turing-wl feFuncR, #turing-wl feFuncG, #turing-wl feFuncB').forEach((f) => {
    f.setAttribute('slope', String(1 / w)); f.setAttribute('intercept', String(0.5 - l / w)); });
  document.documentElement.style.setProperty('--turing-zoom', String(z));
  return [level, width, zoom];
}"""


def _build_reader() -> None:
    gr.Markdown("### Reader\nEach image is either a real MRI slice or a generated one. Answer for every case; "
                "answers are saved at once and you can come back later with the same code.")
    state = gr.State(None)
    with gr.Row():
        study_dd = gr.Dropdown(choices=_open_studies(), label="Study (signed-in readers)", allow_custom_value=False,
                               scale=2)
        code = gr.Textbox(label="Reader code", placeholder="ABCD-EFGH-JKLM", scale=2, elem_id="turing-code")
        start = gr.Button("Start / resume", variant="primary", scale=1, elem_id="turing-start")
    progress = gr.Markdown(elem_id="turing-progress")
    gr.HTML(VIEW_FILTER, elem_id="turing-view-filter")
    with gr.Row(visible=False) as view_row:
        level = gr.Slider(0.0, 1.0, 0.5, step=0.01, label="Level (window centre)", elem_id="turing-level")
        width = gr.Slider(0.05, 1.0, 1.0, step=0.01, label="Window width", elem_id="turing-width")
        zoom = gr.Slider(1.0, 4.0, 1.0, step=0.25, label="Zoom", elem_id="turing-zoom")
        reset = gr.Button("Reset view", scale=0, elem_id="turing-view-reset")
    case_html = gr.HTML(elem_id="turing-case")
    token = gr.Textbox(visible="hidden", label="case token")
    position = gr.Number(visible="hidden", label="position")
    with gr.Column(visible=False) as controls:
        confidence = gr.Radio([1, 2, 3, 4, 5], label="Confidence (1 = guess, 5 = certain)", elem_id="turing-confidence")
        with gr.Row():
            prev_btn = gr.Button("◀ Previous", visible=False, elem_id="turing-previous")
            real_btn = gr.Button("Real", variant="primary", elem_id="turing-real")
            gen_btn = gr.Button("Generated", variant="primary", elem_id="turing-generated")
        lock_btn = gr.Button("Lock my answers", visible=False, variant="stop", elem_id="turing-lock")
    message = gr.Markdown(elem_id="turing-message")
    outs = [state, case_html, token, position, progress, message, confidence, controls, prev_btn, lock_btn,
            view_row, real_btn, gen_btn]
    for slider in (level, width, zoom):
        slider.input(None, [level, width, zoom], [level, width, zoom], js=VIEW_JS)
    reset.click(None, None, [level, width, zoom], js=f"() => ({VIEW_JS})(0.5, 1, 1)")
    common = {"concurrency_limit": READER_LIMIT, "concurrency_id": "turing_reader"}
    start.click(reader_start, [study_dd, code], outs, api_name="turing_start", **common)
    real_btn.click(vote_real, [token, confidence, state], outs, api_name="turing_vote_real", **common)
    gen_btn.click(vote_generated, [token, confidence, state], outs, api_name="turing_vote_generated", **common)
    prev_btn.click(reader_previous, [position, state], outs, api_name="turing_previous", **common)
    lock_btn.click(reader_lock, [state], outs, api_name="turing_lock", **common)


def build_turing_tab() -> None:
    """Build the tab's content inside the caller's ``with gr.Tab("Turing test"):`` block."""
    _build_reader()
    with gr.Accordion("Study admin", open=False):
        if not service.admin_enabled():
            gr.Markdown(ADMIN_DISABLED)
            return
        from medgan.ui.turing_admin import build_admin

        build_admin(_checkpoint_choices)


def build_standalone() -> gr.Blocks:
    """A Blocks with only this tab (for running the Turing test alone: ``python -m medgan.ui.turing_tab``)."""
    with gr.Blocks(title="medgan studio — Turing test") as demo:
        with gr.Tab("Turing test"):
            build_turing_tab()
    return demo


if __name__ == "__main__":
    from medgan.logging_setup import setup_logging

    setup_logging(None)
    build_standalone().queue(default_concurrency_limit=8).launch()
