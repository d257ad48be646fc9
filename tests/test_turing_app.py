"""The real app (python app.py) with gradio_client as the reader: SIGKILL during a study, restart, resume; and
no reader API response leaks the truth, a checkpoint name, a case key or a source path."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from medgan.db import get_engine
from medgan.turing.store import TuringStore
from medgan.turing.study import array_source, create_study
from medgan.turing.study_types import StudyOptions
from tests.live_server import LiveApp

gradio_client = pytest.importorskip("gradio_client")

SECRET_CKPT = "zz_secret_ckpt_name"
SECRET_REAL = "zz_secret_real_set"
N = 12


def _study(home: Path) -> tuple[TuringStore, int, str, list[str]]:
    store = TuringStore(get_engine(f"sqlite:///{home / 'medgan.db'}"))
    rng = np.random.default_rng(5)
    real = array_source(SECRET_REAL, rng.random((20, 96, 96), dtype=np.float32), "real")
    gen = array_source(SECRET_CKPT, rng.random((20, 96, 96), dtype=np.float32) * 0.7, "generated")
    info = create_study("crash-study", StudyOptions(n_cases=N, seed=7), real=real, generated=[gen], store=store)
    (_, code), = store.issue_codes(info.id, 1)
    secrets_ = [SECRET_CKPT, SECRET_REAL, str(home)] + [c["case_key"] for c in store.case_table(info.id)] \
        + [c["source_ref"] for c in store.case_table(info.id)]
    return store, info.id, code, secrets_


def _case_number(progress: str) -> int:
    m = re.search(r"Case (\d+) of (\d+)", progress)
    assert m, progress
    assert int(m.group(2)) == N
    return int(m.group(1))


def test_sigkill_restart_resume_and_no_leak(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    store, sid, code, secrets_ = _study(home)
    env = {"MEDGAN_HOME": str(home), "MEDGAN_ADMIN_PASSWORD": "admin-pw-for-test"}
    responses: list[str] = []
    acknowledged: list[str] = []
    replies: list[tuple[str, str]] = []  # (case token voted on, message shown with the next case)

    app = LiveApp(env=env)
    app.start()
    try:
        client = gradio_client.Client(app.url, verbose=False)
        endpoints = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
        assert {"/turing_start", "/turing_vote_real", "/turing_vote_generated"} <= endpoints
        for name in ("unlock", "create", "issue", "results", "write_cards", "set_status", "lambda"):
            assert not any(name in e for e in endpoints), (name, endpoints)
        info_json = urllib.request.urlopen(app.url + "gradio_api/info").read().decode()
        assert SECRET_CKPT not in info_json
        out = client.predict(None, code, api_name="/turing_start")
        responses.append(json.dumps(out))
        token = out[1]
        assert _case_number(out[3]) == 1
        for i in range(5):
            out = client.predict(token, 3, api_name="/turing_vote_real" if i % 2 else "/turing_vote_generated")
            responses.append(json.dumps(out))
            acknowledged.append(token)
            replies.append((token, out[4]))
            token = out[1]
        # one more vote in flight while the process is killed
        threading.Thread(target=lambda t=token: _swallow(client, t), daemon=True).start()
        time.sleep(0.05)
        os.kill(app.pid, signal.SIGKILL)
        app._proc.wait(timeout=10)
    finally:
        app.stop()

    stored = {r["case_token"] for r in store.vote_rows(sid)}
    assert set(acknowledged) <= stored  # every acknowledged vote survived the kill
    n_stored = len(stored)
    assert n_stored in (5, 6)

    with LiveApp(env=env) as app2:
        client = gradio_client.Client(app2.url, verbose=False)
        out = client.predict(None, code, api_name="/turing_start")
        responses.append(json.dumps(out))
        assert _case_number(out[3]) == n_stored + 1  # resumes at the first unanswered case
        token = out[1]
        assert token not in stored
        for _ in range(N - n_stored):
            out = client.predict(token, 4, api_name="/turing_vote_real")
            responses.append(json.dumps(out))
            if out[1]:
                replies.append((token, out[4]))
            token = out[1]
        assert "Study complete" in out[4]
        assert store.count_votes(sid) == N
        # the reply to a scored vote is the same whatever the truth of the case just answered (every vote but the
        # last, before and after the restart: a 50/50 study of 12 cases has both truths among them)
        truth = {r["case_token"]: r["truth"] for r in store.vote_rows(sid)}
        messages: dict[str, set[str]] = {"real": set(), "generated": set()}
        for tok, message in replies:
            messages[truth[tok]].add(message)
        assert messages["real"] and messages["generated"]
        assert messages["real"] == messages["generated"] == {""}

    blob = "\n".join(responses)
    for s in secrets_:
        assert s not in blob, f"reader response leaked {s!r}"
    assert "truth" not in blob.lower()
    assert "case_key" not in blob and "sha256" not in blob


def _swallow(client, token: str) -> None:  # noqa: ANN001
    try:
        client.predict(token, 2, api_name="/turing_vote_real")
    except Exception:  # noqa: BLE001 - the server is being killed
        pass


def test_admin_handlers_refuse_without_unlock() -> None:
    from medgan.ui import turing_admin

    assert turing_admin.results(None, "crash-study")[0].startswith("⚠️")
    assert turing_admin.issue(None, "crash-study", 3) == ("", "⚠️ unlock the admin panel with the admin password "
                                                            "first")
    assert turing_admin.set_status(False, "crash-study", "closed").startswith("⚠️")
