"""Where the app keeps its state and where the bundled checkpoints are."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_CHECKPOINTS = REPO_ROOT / "checkpoints"


def medgan_home() -> Path:
    """Folder for the app's state (database, jobs, studies, caches): ``MEDGAN_HOME``, else /data/medgan (a
    Hugging Face Space with persistent storage), else ~/.medgan. Created when missing."""
    env = os.environ.get("MEDGAN_HOME")
    if env:
        path = Path(env)
    elif Path("/data").is_dir() and os.access("/data", os.W_OK):
        path = Path("/data/medgan")
    else:
        path = Path.home() / ".medgan"
    path.mkdir(parents=True, exist_ok=True)
    return path


def user_checkpoint_dir(create: bool = False) -> Path:
    """``MEDGAN_HOME/checkpoints``: user-trained and published checkpoints."""
    path = medgan_home() / "checkpoints"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path
