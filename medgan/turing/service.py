"""What the Turing tab's handlers do, without Gradio: reader sessions (blinded views) and admin actions.

Reader views carry only an opaque token, the canonical PNG, progress and messages: never the truth (except
practice feedback), a checkpoint name, a source path or a case key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import math
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

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


SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32, "maxmem": 64 * 1024 * 1024}


def _scrypt(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, **SCRYPT)


@dataclass
class _Failures:
    count: int = 0
    until: float = 0.0


class AdminGuard:
    """Admin login: the password kept only as a salted scrypt hash (every guess costs one scrypt evaluation),
    failed attempts limited per client and globally with exponential back-off, and server-side sessions.

    A client gets ``free_failures`` wrong guesses, then waits 2, 4, 8 … s (at most ``max_lock_s``) before the next
    guess is even checked. More than ``global_failures`` failures from all clients within ``global_window_s``
    lock every login for ``global_lock_s``. A successful login returns a random session token, valid for
    ``session_ttl_s``; admin handlers accept only such a token.
    """

    def __init__(self, password: str | None, free_failures: int = 3, max_lock_s: float = 900.0,
                 global_failures: int = 20, global_window_s: float = 60.0, global_lock_s: float = 60.0,
                 session_ttl_s: float = 8 * 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._salt = secrets.token_bytes(16)
        self._hash = _scrypt(password, self._salt) if password else None
        self.free_failures, self.max_lock_s = free_failures, max_lock_s
        self.global_failures, self.global_window_s, self.global_lock_s = global_failures, global_window_s, global_lock_s
        self.session_ttl_s = session_ttl_s
        self.clock = clock
        self._lock = threading.Lock()
        self._clients: dict[str, _Failures] = {}
        self._recent: deque[float] = deque()
        self._global_until = 0.0
        self._sessions: dict[str, float] = {}

    def login(self, password: str | None, client: str) -> tuple[str | None, str]:
        """(session token or None, message for the admin)."""
        if self._hash is None:
            return None, "Admin functions are disabled (no admin password is set)."
        now = self.clock()
        with self._lock:
            wait = max(self._global_until - now, self._clients.get(client, _Failures()).until - now)
        if wait > 0:
            return None, f"Too many failed admin logins: locked, try again in {math.ceil(wait)} s."
        ok = hmac.compare_digest(_scrypt(str(password or ""), self._salt), self._hash)
        with self._lock:
            now = self.clock()
            if ok:
                self._clients.pop(client, None)
                token = secrets.token_urlsafe(32)
                self._sessions = {t: exp for t, exp in self._sessions.items() if exp > now}
                self._sessions[token] = now + self.session_ttl_s
                return token, "Admin unlocked."
            state = self._clients.setdefault(client, _Failures())
            state.count += 1
            msg = "Wrong admin password."
            if state.count >= self.free_failures:
                lock = min(2.0 ** (state.count - self.free_failures + 1), self.max_lock_s)
                state.until = now + lock
                msg += f" Too many failed attempts: locked for {math.ceil(lock)} s."
            self._recent.append(now)
            while self._recent and self._recent[0] < now - self.global_window_s:
                self._recent.popleft()
            if len(self._recent) > self.global_failures:
                self._global_until = now + self.global_lock_s
                logger.warning("admin login locked for everyone after %d failures in %.0f s", len(self._recent),
                               self.global_window_s)
            logger.warning("failed admin login from %s (%d)", client, state.count)
            return None, msg

    def valid(self, token: object) -> bool:
        """True for a live session token from :meth:`login` (anything else — None, True, a forged string — is
        refused)."""
        if not isinstance(token, str) or not token:
            return False
        with self._lock:
            exp = self._sessions.get(token)
            return exp is not None and exp > self.clock()

    def logout(self, token: object) -> None:
        with self._lock:
            self._sessions.pop(str(token), None)


_GUARD: tuple[str | None, AdminGuard] | None = None


def admin_guard() -> AdminGuard:
    """The process-wide guard for ``MEDGAN_ADMIN_PASSWORD`` (rebuilt if the variable changes)."""
    global _GUARD
    password = os.environ.get(ADMIN_ENV) or None
    with _LOCK:
        if _GUARD is None or _GUARD[0] != password:
            _GUARD = (password, AdminGuard(password))
        return _GUARD[1]


def check_admin_password(password: str | None) -> bool:
    """Whether ``password`` is the admin password (one rate-limited scrypt check under the name "local")."""
    return admin_guard().login(password, "local")[0] is not None


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
    can_lock: bool = False  # every case answered, answers still changeable: offer "Lock my answers"


def image_html(png: bytes) -> str:
    """The case as an inline canonical PNG (no URL, no file name)."""
    b64 = base64.b64encode(png).decode("ascii")
    return ('<div class="turing-case" style="max-width:512px;max-height:512px;overflow:auto">'
            f'<img alt="case" src="data:image/png;base64,{b64}" style="display:block;'
            'width:calc(512px * var(--turing-zoom, 1));max-width:none;image-rendering:auto;'
            'filter:url(#turing-wl)"></div>')


def _end_view(store: TuringStore, reader: Reader) -> ReaderView:
    study = store.get_study(reader.study_id)
    reader = store.reader(reader.id)
    done, total = store.progress(reader)
    if reader.locked_at is None:  # revisit studies: answers may still change, so no score yet
        msg = ("**All cases answered.** Your answers are saved. You may go back with ◀ Previous and change any "
               "of them; press **Lock my answers** when you are done (you cannot change them afterwards).")
        return ReaderView(image_html="", token="", progress=f"{done} / {total} answered", message=msg,
                          finished=True, revisit=study.options.allow_revisit, position=total, can_lock=True)
    msg = "**Study complete — thank you.** All your answers are saved."
    if study.options.show_score:
        correct, n = store.reader_score(reader)
        if n:
            msg += f" Your score: {correct} / {n} correct ({100 * correct / n:.0f} %)."
    return ReaderView(image_html="", token="", progress=f"{done} / {total} answered", message=msg,
                      finished=True, revisit=False, position=total)


def lock(store: TuringStore, reader: Reader) -> ReaderView:
    """Make the reader's answers final; the end screen (with the score, when the study shows it) follows."""
    if store.get_study(reader.study_id).status != "open":
        raise StudyError("this study is closed")
    return _end_view(store, store.lock_reader(reader))


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
    if store.reader(reader.id).locked_at is not None:
        raise StudyError("your answers are locked and can no longer be changed")
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

    lines = [f"### {study_name}: {summary['n_readers']} readers, {o['n']} scored votes"]
    m = summary.get("mrmc", {})
    if m.get("accuracy"):
        a = m["accuracy"]
        how = ("readers and cases random, Obuchowski–Rockette / Hillis" if m["readers"] > 1
               else "one reader: cases random, case jackknife")
        lines.append(f"- **MRMC accuracy {pct(a['estimate'])}** ({how} 95 % CI {pct(a['ci_low'])} – "
                     f"{pct(a['ci_high'])}, df {a['df']:.1f}; {m['readers']} readers × {m['cases']} cases)")
    if m.get("auc"):
        u = m["auc"]
        lines.append(f"- MRMC AUC from confidence {u['estimate']:.3f} (95 % CI {u['ci_low']:.3f} – "
                     f"{u['ci_high']:.3f})")
    cases = summary.get("per_case", [])
    if cases:
        top = cases[0]
        lines.append(f"- Per-case fooling rate: median {pct(float(np.median([c['fooled'] for c in cases])))}, "
                     f"highest {pct(top['fooled'])} ({top['case']}, {top['truth']})")
    lines += [
        f"- Pooled accuracy {pct(o['accuracy'])} (Wilson 95 % CI {pct(o['ci_low'])} – {pct(o['ci_high'])}, treats "
        f"every vote as independent); "
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
