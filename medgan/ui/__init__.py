"""The Gradio user interface: ``build_demo()`` composes the tabs (one module per tab) and the task API."""

from __future__ import annotations

from medgan.ui.app_builder import TABS, build_demo, launch, launch_settings

__all__ = ["TABS", "build_demo", "launch", "launch_settings"]
