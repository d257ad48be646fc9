"""build_demo(): the app's Blocks, composed from an explicit list of tabs; launch settings from the environment.

Environment variables:
  MEDGAN_HOST or GRADIO_SERVER_NAME (default 127.0.0.1; 0.0.0.0 on a Hugging Face Space),
  MEDGAN_PORT or GRADIO_SERVER_PORT (default 7860),
  MEDGAN_AUTH ("user:pass,user2:pass2"; none = open), MEDGAN_MAX_FILE_SIZE (default "500mb"),
  MEDGAN_QUEUE_SIZE (default 32), MEDGAN_HOME (state; Gradio's temp files go to MEDGAN_HOME/gradio-tmp).
Who may train on an open server (MEDGAN_ADMIN_PASSWORD, SPACE_ID): medgan.ui.train_access.
"""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from typing import Any

import gradio as gr

from medgan.paths import medgan_home
from medgan.ui.api import build_api
from medgan.ui.models_api import build_models_api
from medgan.ui.theme import CSS, HEAD, theme

logger = logging.getLogger(__name__)

# (tab title, module, builder function); each builder is called inside ``with gr.Tab(title):``
TABS: list[tuple[str, str, str]] = [
    ("Studio", "medgan.ui.studio", "build_studio_tab"),
    ("Train", "medgan.ui.train_tab", "build_train_tab"),
    ("Turing test", "medgan.ui.turing_tab", "build_turing_tab"),
]
TITLE = "medgan studio"
DELETE_CACHE = (3600, 3600)  # every hour, files older than an hour


def configure_temp_dir() -> Path:
    """Point Gradio's upload/cache folder at a private folder under MEDGAN_HOME (before Blocks are built)."""

    tmp = Path(os.environ.get("GRADIO_TEMP_DIR") or medgan_home() / "gradio-tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    os.environ["GRADIO_TEMP_DIR"] = str(tmp)
    return tmp


def _builder(module_name: str, fn_name: str) -> Any | None:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            logger.info("tab module %s is not installed; skipping it", module_name)
            return None
        logger.exception("tab module %s failed to import; skipping it", module_name)
        return None
    except Exception:
        logger.exception("tab module %s failed to import; skipping it", module_name)
        return None
    fn = getattr(module, fn_name, None)
    if fn is None:
        logger.warning("%s has no %s(); skipping the tab", module_name, fn_name)
    return fn


def prepare_embedded_data() -> bool:
    """Read (on a fresh MEDGAN_HOME: build and cache) the embedded brain dataset now, in the main thread.

    Building it imports nilearn and scikit-learn; done for the first page load inside a worker thread, that
    import could race the server's own imports and stop on Python's import-deadlock check, so a first visitor
    saw "could not load the example". False (logged) when it cannot be read: the app still starts."""
    try:
        from medgan.data.brain import load_brain_volume

        load_brain_volume()
        return True
    except Exception:
        logger.exception("the embedded brain dataset could not be prepared; the Studio will retry on first use")
        return False


def build_demo(tabs: list[tuple[str, str, str]] | None = None) -> gr.Blocks:
    """The whole app (not launched): header, one tab per entry of ``tabs`` (default TABS), the task API."""
    configure_temp_dir()
    prepare_embedded_data()

    with gr.Blocks(title=TITLE, delete_cache=DELETE_CACHE, fill_width=True) as demo:
        gr.HTML("<div class='mg-header'><span class='mg-logo'>medgan</span> studio"
                "<span class='mg-sub'>GANs for medical image synthesis · research use only, not for diagnosis"
                "</span></div>")
        for title, module_name, fn_name in tabs or TABS:
            fn = _builder(module_name, fn_name)
            if fn is None:
                continue
            with gr.Tab(title):
                try:
                    fn()
                except Exception:
                    logger.exception("building the %s tab failed", title)
                    gr.Markdown(f"The {title} tab could not be built on this server; see the server log.")
        build_api()
        build_models_api()
    return demo


def parse_auth(value: str | None) -> list[tuple[str, str]] | None:
    """"user:pass,user2:pass2" → [(user, pass), ...]; empty → None (no login)."""
    if not value or not value.strip():
        return None
    pairs = []
    for item in value.split(","):
        user, sep, password = item.strip().partition(":")
        if not sep or not user or not password:
            raise ValueError("MEDGAN_AUTH must look like 'user:password,user2:password2'")
        pairs.append((user, password))
    return pairs


def launch_settings(env: dict[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments for ``demo.launch`` from the environment (no allowed_paths: nothing is served from
    disk beyond Gradio's own temp folder)."""
    env = dict(os.environ if env is None else env)
    port = env.get("MEDGAN_PORT") or env.get("GRADIO_SERVER_PORT") or "7860"
    return {
        "server_name": env.get("MEDGAN_HOST") or env.get("GRADIO_SERVER_NAME")
        or ("0.0.0.0" if env.get("SPACE_ID") else "127.0.0.1"),  # a Hugging Face Space must listen on all
        "server_port": int(port),
        "auth": parse_auth(env.get("MEDGAN_AUTH")),
        "max_file_size": env.get("MEDGAN_MAX_FILE_SIZE", "500mb"),
        "show_error": True,
        "footer_links": ["api", "settings"],
        "theme": theme(),
        "css": CSS,
        "head": HEAD,
    }


def queue_settings(env: dict[str, str] | None = None) -> dict[str, Any]:
    env = dict(os.environ if env is None else env)
    return {"max_size": int(env.get("MEDGAN_QUEUE_SIZE", "32")), "default_concurrency_limit": 2}


def launch(demo: gr.Blocks | None = None) -> None:
    """Build (when needed), queue and launch with the environment's settings."""
    demo = demo or build_demo()
    demo.queue(**queue_settings())
    demo.launch(**launch_settings())
