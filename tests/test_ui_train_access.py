"""Who may train on an open server: the Train tab's start / resume / cancel endpoints need the admin password when
one is set, are off on an open Hugging Face Space without one, and stay open for local use; reading endpoints stay
open. Live servers (``python app.py``) driven with gradio_client, plus the access rules themselves."""

from __future__ import annotations

import time

import pytest

from tests.live_server import LiveApp

gradio_client = pytest.importorskip("gradio_client")

PASSWORD = "correct horse battery staple"


def _start(client, **kw):
    """/train_start with a tiny phantom job (2 steps at 32 px on the CPU); ``kw`` adds admin_password."""
    return client.predict("synthesis", "pix2pix", "denoise", "(from scratch)", "phantoms", None, None, 2, 2, 2e-4,
                          2e-4, 100, 1, 32, False, False, "cpu", 0, "", 0, api_name="/train_start", **kw)


def _refused(call) -> str:
    with pytest.raises(Exception) as err:  # noqa: B017 - gradio_client raises its AppError
        call()
    return str(err.value)


def _settle(client, job_id: str, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.predict(job_id, api_name="/train_status")["status"]
        if status not in ("queued", "running"):
            return status
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} still {status} after {timeout:.0f} s")


def test_admin_password_guards_start_resume_and_cancel(tmp_path):
    env = {"MEDGAN_HOME": str(tmp_path), "MEDGAN_ADMIN_PASSWORD": PASSWORD, "MEDGAN_AUTH": "", "SPACE_ID": "",
           "MEDGAN_LOG_LEVEL": "WARNING"}
    with LiveApp(env=env, timeout=180) as app:
        c = gradio_client.Client(app.url, verbose=False)
        msg = _refused(lambda: _start(c))
        assert "needs the admin password" in msg and "admin_password" in msg
        msg = _refused(lambda: _start(c, admin_password="guess"))
        assert "Wrong admin password" in msg and PASSWORD not in msg
        assert c.predict(api_name="/train_list") == []  # reading stays open; nothing was queued

        message, job_id = _start(c, admin_password=PASSWORD)
        assert "queued" in message and job_id
        assert "needs the admin password" in _refused(lambda: c.predict(job_id, api_name="/train_cancel"))
        c.predict(job_id, PASSWORD, api_name="/train_cancel")
        assert _settle(c, job_id) in ("cancelled", "finished", "failed")
        assert "Wrong admin password" in _refused(lambda: c.predict(job_id, "nope", api_name="/train_resume"))
        assert c.predict(job_id, api_name="/train_status")["status"] in ("cancelled", "finished", "failed")
        assert [j["id"] for j in c.predict(api_name="/train_list")] == [job_id]


def test_open_space_without_admin_password_has_training_off(tmp_path):
    env = {"MEDGAN_HOME": str(tmp_path), "SPACE_ID": "someone/medgan-studio", "MEDGAN_ADMIN_PASSWORD": "",
           "MEDGAN_AUTH": "", "MEDGAN_LOG_LEVEL": "WARNING"}
    with LiveApp(env=env, timeout=180) as app:
        c = gradio_client.Client(app.url, verbose=False)
        for call in (lambda: _start(c), lambda: _start(c, admin_password="anything"),
                     lambda: c.predict("some-job", api_name="/train_cancel"),
                     lambda: c.predict("some-job", api_name="/train_resume")):
            msg = _refused(call)
            assert "Training is off on this public Space" in msg
            assert "MEDGAN_ADMIN_PASSWORD" in msg and "MEDGAN_AUTH" in msg  # how to turn it on
        assert c.predict(api_name="/train_list") == []


def test_access_rules(monkeypatch):
    from medgan.ui import train_access as A

    assert A.access_mode({}) == A.LOCAL
    assert A.access_mode({"SPACE_ID": "a/b"}) == A.OFF
    assert A.access_mode({"SPACE_ID": "a/b", "MEDGAN_ADMIN_PASSWORD": "x"}) == A.PASSWORD
    assert A.access_mode({"MEDGAN_ADMIN_PASSWORD": "x"}) == A.PASSWORD
    assert A.access_mode({"MEDGAN_AUTH": "u:p", "MEDGAN_ADMIN_PASSWORD": "x", "SPACE_ID": "a/b"}) == A.LOGIN
    for key in ("MEDGAN_AUTH", "SPACE_ID", "MEDGAN_ADMIN_PASSWORD"):
        monkeypatch.delenv(key, raising=False)
    assert A.refusal("") is None  # local use: open
    monkeypatch.setenv("MEDGAN_AUTH", "u:p")
    monkeypatch.setenv("SPACE_ID", "a/b")
    assert A.refusal("") is None  # logged-in users train as before
    monkeypatch.delenv("MEDGAN_AUTH")
    assert A.refusal("") == A.OFF_MESSAGE
    monkeypatch.setenv("MEDGAN_ADMIN_PASSWORD", PASSWORD)
    assert A.refusal(PASSWORD) is None and "Wrong admin password" in A.refusal("nope")
    assert "needs the admin password" in A.refusal("")
