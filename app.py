"""medgan studio: build the Gradio app and serve it (Hugging Face Spaces ``app_file``).

Host, port, login and limits come from environment variables (see ``medgan.ui.app_builder``).
"""

from __future__ import annotations

import os

from medgan.paths import medgan_home

# Gradio reads its temp folder when imported: keep uploads and results in a private folder under MEDGAN_HOME.
os.environ.setdefault("GRADIO_TEMP_DIR", str(medgan_home() / "gradio-tmp"))

from medgan.logging_setup import setup_logging  # noqa: E402
from medgan.ui import build_demo, launch  # noqa: E402

setup_logging()
demo = build_demo()

if __name__ == "__main__":
    launch(demo)
