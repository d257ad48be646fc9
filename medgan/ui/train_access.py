"""Who may start, resume or cancel training jobs (the Train tab's /train_start, /train_resume, /train_cancel).

- ``MEDGAN_AUTH`` set: every logged-in user may train (Gradio's login guards every request).
- open server with ``MEDGAN_ADMIN_PASSWORD`` set: these actions need the admin password, checked by the Turing
  admin's guard (:func:`medgan.turing.service.admin_guard`: scrypt, per-client and global back-off).
- open Hugging Face Space (``SPACE_ID`` set) without an admin password: training is off.
- open server elsewhere without an admin password: anyone who reaches it may train (local use).

Reading endpoints (/train_status, /train_list, /train_download) stay open.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import gradio as gr

from medgan.turing.service import ADMIN_ENV, admin_guard
from medgan.ui.common import client_host

AUTH_ENV = "MEDGAN_AUTH"
SPACE_ENV = "SPACE_ID"
LOGIN, PASSWORD, OFF, LOCAL = "login", "password", "off", "local"
OFF_MESSAGE = (f"Training is off on this public Space: any visitor could start jobs. The Space's owner can turn "
               f"it on by setting {ADMIN_ENV} (training then asks for that password) or {AUTH_ENV} (logins) in "
               "the Space's settings.")
PASSWORD_NOTE = "This server is open to anyone: starting, resuming or cancelling a job needs the admin password."


def access_mode(env: Mapping[str, str] | None = None) -> str:
    """``login``, ``password``, ``off`` or ``local`` (see the module's docstring)."""
    env = os.environ if env is None else env
    if (env.get(AUTH_ENV) or "").strip():
        return LOGIN
    if env.get(ADMIN_ENV):
        return PASSWORD
    return OFF if env.get(SPACE_ENV) else LOCAL


def refusal(password: str | None, request: Any = None) -> str | None:
    """Why this request may not start, resume or cancel a job; None when it may. A given password is checked
    (and a wrong one counted towards the back-off) only when the server asks for one."""
    mode = access_mode()
    if mode == OFF:
        return OFF_MESSAGE
    if mode != PASSWORD:
        return None
    if not password:
        return f"{PASSWORD_NOTE} Enter it in the 'Admin password' box (API: the last argument, admin_password)."
    guard = admin_guard()
    token, message = guard.login(password, client_host(request))
    if token is None:
        return f"Not allowed: {message}"
    guard.logout(token)
    return None


def require(password: str | None, request: Any = None) -> None:
    """Raise a ``gr.Error`` (shown to the visitor, returned to an API client) unless :func:`refusal` is None."""
    why = refusal(password, request)
    if why:
        raise gr.Error(why, print_exception=False)


def build_password_box() -> gr.Textbox:
    """The 'Admin password' box (visible only when training needs it) and, with training off, the reason."""
    mode = access_mode()
    if mode == OFF:
        gr.Markdown(f"⛔ {OFF_MESSAGE}", elem_id="train-access")
    return gr.Textbox("", label="Admin password", type="password", visible=mode == PASSWORD, info=PASSWORD_NOTE,
                      elem_id="train-admin-password")
