"""Launch the real app (``python app.py``) in a subprocess on a free port, for end-to-end tests.

Usage::

    from tests.live_server import LiveApp

    with LiveApp(env={"MEDGAN_HOME": str(tmp_path)}) as app:
        client = gradio_client.Client(app.url)
        ...

The server gets its own ``MEDGAN_HOME`` (a fresh temporary folder unless one is given), listens on
127.0.0.1 on a free port, and is stopped (then killed if needed) on exit. ``app.log()`` returns its output so
far, which a failing test can print.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveApp:
    """``python app.py`` on a free port; ``url`` is ready once the context is entered.

    env: extra environment variables (e.g. ``MEDGAN_HOME``, ``MEDGAN_AUTH``); the port and host are set here.
    timeout: seconds to wait for the server to answer HTTP before failing with its log.
    warm_workers: keep the job system's pre-started training worker (``MEDGAN_WARM_WORKERS``, on in the app by
    default); off unless asked, so apps that never train do not spend a core importing torch at start.
    """

    def __init__(self, env: dict[str, str] | None = None, timeout: float = 90.0, script: str = "app.py",
                 warm_workers: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.timeout = timeout
        self.script = script
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._env = {"MEDGAN_WARM_WORKERS": "1" if warm_workers else "0", **(env or {})}
        self._proc: subprocess.Popen | None = None
        self._log_path: Path | None = None
        self.startup_seconds: float | None = None

    def __enter__(self) -> LiveApp:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        env = os.environ.copy()
        for key in ("GRADIO_SERVER_PORT", "GRADIO_SERVER_NAME", "GRADIO_TEMP_DIR"):  # the app derives these
            env.pop(key, None)
        env.update(self._env)
        if "MEDGAN_HOME" not in self._env:
            self._tmp = tempfile.TemporaryDirectory(prefix="medgan-live-home-")
            env["MEDGAN_HOME"] = self._tmp.name
        env.update({"MEDGAN_HOST": "127.0.0.1", "MEDGAN_PORT": str(self.port), "PYTHONUNBUFFERED": "1",
                    "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"})
        fd, log = tempfile.mkstemp(prefix="medgan-live-", suffix=".log")
        self._log_path = Path(log)
        t0 = time.perf_counter()
        self._proc = subprocess.Popen([sys.executable, self.script], cwd=ROOT, env=env, stdout=fd,
                                      stderr=subprocess.STDOUT)
        os.close(fd)
        deadline = t0 + self.timeout
        while time.perf_counter() < deadline:
            if self._proc.poll() is not None:
                code, log = self._proc.returncode, self.log()
                self.stop()
                raise RuntimeError(f"app exited with code {code}:\n{log}")
            try:
                with urllib.request.urlopen(self.url + "gradio_api/info", timeout=5) as r:
                    if r.status == 200:
                        self.startup_seconds = time.perf_counter() - t0
                        return
            except urllib.error.HTTPError:  # the server answers (e.g. 401 behind auth): it is up
                self.startup_seconds = time.perf_counter() - t0
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.2)
        log = self.log()
        self.stop()
        raise TimeoutError(f"app not ready after {self.timeout:.0f} s:\n{log}")

    def log(self) -> str:
        """The server's stdout + stderr so far."""
        if self._log_path and self._log_path.exists():
            return self._log_path.read_text(errors="replace")
        return ""

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
        self._proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None
