"""What the Turing tab's handlers do, without Gradio: reader sessions (blinded views) and admin actions.

Reader views carry only an opaque token, the canonical PNG, progress and messages: never the truth (except
practice feedback), a checkpoint name, a source path or a case key.
"""

from __future__ import annotations

import base64
import hmac
import logging
import os
import threading
from dataclasses import dataclass

from medgan.db import database_url, get_engine
from medgan.turing.store import Reader, ServedCase, StudyError, TuringStore

logger = logging.getLogger(__name__)
ADMIN_ENV = "MEDGAN_ADMIN_PASSWORD"
_STORES: dict[str, TuringStore] = {}
_LOCK = threading.Lock()


def get_store() -> TuringStore:
    """The process-wide store for the configured database (schema created/migrated on first use)."""

    url = database_url()
    with _LOCK:
        if url not in _STORES:
            _STORES[url] = TuringStore(get_engine(url))
        return _STORES[url]


def admin_enabled() -> bool:
    return bool(os.environ.get(ADMIN_ENV))


def check_admin_password(password: str | None) -> bool:
    """Constant-time comparison with ``MEDGAN_ADMIN_PASSWORD``; always False when it is unset."""
    expected = os.environ.get(ADMIN_ENV)
    if not expected or not password:
        return False
    return hmac.compare_digest(expected.encode(), str(password).encode())


@dataclass(frozen=True)
class ReaderView:
    """One screen for a reader."""

    image_html: str
    token: str
    progress: str
    message: str
    finished: bool
    revisit: bool
    position: int


def image_html(png: bytes) -> str:
    """The case as an inline canonical PNG (no URL, no file name)."""
    b64 = base64.b64encode(png).decode("ascii")
    return (f'<div class="turing-case"><img alt="case" src="data:image/png;base64,{b64}" '
            'style="width:100%;max-width:512px;image-rendering:pixelated"></div>')


def _end_view(store: TuringStore, reader: Reader) -> ReaderView:
    study = store.get_study(reader.study_id)
    msg = "**Study complete — thank you.** All your answers are saved."
    if study.options.show_score:
        correct, n = store.reader_score(reader)
        if n:
            msg += f" Your score: {correct} / {n} correct ({100 * correct / n:.0f} %)."
    done, total = store.progress(reader)
    return ReaderView(image_html="", token="", progress=f"{done} / {total} answered", message=msg,
                      finished=True, revisit=False, position=total)


def _case_view(store: TuringStore, reader: Reader, case: ServedCase, message: str) -> ReaderView:
    study = store.get_study(reader.study_id)
    if case.practice:
        label = f"Practice case {case.position + 1} of {case.n_practice}"
    else:
        label = f"Case {case.position - case.n_practice + 1} of {case.total - case.n_practice}"
    if study.options.time_limit_s:
        label += f" · time limit {study.options.time_limit_s:g} s"
    if case.previous_vote:
        label += f" · your answer: {case.previous_vote}"
    return ReaderView(image_html=image_html(case.png), token=case.token, progress=label, message=message,
                      finished=False, revisit=study.options.allow_revisit, position=case.position)


def current_view(store: TuringStore, reader: Reader, message: str = "") -> ReaderView:
    """The first unanswered case, or the end screen (resume point after any interruption)."""
    case = store.next_case(reader)
    if case is None:
        return _end_view(store, reader)
    return _case_view(store, reader, case, message)


def vote(store: TuringStore, reader: Reader, token: str, choice: str, confidence: int | None) -> ReaderView:
    """Commit a vote, then return the next screen (the vote is durable before the next case is shown)."""
    study = store.get_study(reader.study_id)
    if study.options.confidence and confidence is None:
        raise StudyError("choose a confidence from 1 (guess) to 5 (certain) before answering")
    res = store.submit_vote(reader, token, choice, confidence if study.options.confidence else None,
                            replace=study.options.allow_revisit)
    message = "" if res.accepted else "That answer was already recorded."
    if res.timed_out:
        message = "Time limit exceeded: this answer is kept but not scored."
    if res.practice_truth and study.options.practice_feedback:
        right = res.practice_truth == choice
        message = (f"Practice feedback: this image was **{res.practice_truth}** — you were "
                   f"{'right' if right else 'wrong'}.")
    return current_view(store, reader, message)


def previous_view(store: TuringStore, reader: Reader, position: int) -> ReaderView:
    """The case before ``position`` when the study allows revisiting."""
    study = store.get_study(reader.study_id)
    if not study.options.allow_revisit:
        raise StudyError("this study does not allow going back")
    case = store.case_at(reader, max(position - 1, 0))
    if case is None:
        return current_view(store, reader)
    return _case_view(store, reader, case, "You may change your answer.")


def summary_markdown(summary: dict, study_name: str) -> str:
    """Admin results as Markdown."""
    o = summary["overall"]
    if not o["n"]:
        return f"### {study_name}\nNo scored votes yet."

    def pct(x: float) -> str:
        return "n/a" if x != x else f"{100 * x:.1f} %"

    lines = [
        f"### {study_name}: {summary['n_readers']} readers, {o['n']} scored votes",
        f"- Accuracy **{pct(o['accuracy'])}** (Wilson 95 % CI {pct(o['ci_low'])} – {pct(o['ci_high'])}); "
        f"binomial test vs 50 %: p = {o['p_value']:.4g}",
        f"- Sensitivity (generated called generated) {pct(o['sensitivity'])}; specificity (real called real) "
        f"{pct(o['specificity'])}",
        f"- AUC from confidence-weighted votes {summary['auc']:.3f}" if summary["auc"] == summary["auc"]
        else "- AUC n/a",
        f"- Fleiss' kappa {summary['fleiss_kappa']:.3f} over {summary['fleiss_n_cases']} cases"
        if summary["fleiss_kappa"] == summary["fleiss_kappa"] else "- Fleiss' kappa n/a (needs ≥ 2 readers)",
        f"- Median time per case {o['median_time_s']:.1f} s; late (over the time limit) votes: {o['n_timed_out']}",
    ]
    return "\n".join(lines)
