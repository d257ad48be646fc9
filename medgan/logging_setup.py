"""Logging configuration for entry points (the CLI and the app). Library code only calls ``logging.getLogger``."""

from __future__ import annotations

import logging
import os


def setup_logging(level: str | int | None = None) -> None:
    """Configure the root logger once; level from the argument or ``MEDGAN_LOG_LEVEL`` (default INFO)."""
    level = level or os.environ.get("MEDGAN_LOG_LEVEL", "INFO")
    root = logging.getLogger()
    if getattr(root, "_medgan_configured", False):
        root.setLevel(level)
        return
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root._medgan_configured = True  # type: ignore[attr-defined]
