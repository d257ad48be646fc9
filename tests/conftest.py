"""Shared test fixtures. Every test run gets a private MEDGAN_HOME so nothing touches the user's state."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_HOME = Path(tempfile.mkdtemp(prefix="medgan-test-home-"))
os.environ.setdefault("MEDGAN_HOME", str(_HOME))
if os.environ.get("PYTEST_XDIST_WORKER"):  # each worker its own home: the workers inherit the controller's, and
    # one worker's published checkpoints or jobs must not appear in another's listings mid-test
    os.environ["MEDGAN_HOME"] = str(Path(os.environ["MEDGAN_HOME"]) / os.environ["PYTEST_XDIST_WORKER"])
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# the suite runs as two workers on two cores, with app servers, training workers and benchmarks as subprocesses
# (which inherit this): one intra-op thread each avoids oversubscription stalls; a test may still set its own count
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Folder for test artifacts (screenshots, reports); kept after the run."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
