"""The app's look: a Gradio theme and a little CSS."""

from __future__ import annotations

import gradio as gr

from medgan.ui.painter import CSS as PAINTER_CSS
from medgan.ui.painter import JS as PAINTER_JS

CSS = """
.mg-header {font-size: 1.5rem; font-weight: 600; padding: 4px 2px 0 2px; letter-spacing: .01em}
.mg-logo {color: #4f46e5}
.mg-sub {font-size: .85rem; font-weight: 400; color: #64748b; margin-left: 14px}
.mg-lead {color: #475569}
.mg-panel {border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 8px 10px}
.mg-legend {display: flex; flex-wrap: wrap; gap: 6px 14px; font-size: .85rem; margin: 2px 0 4px 0}
.mg-item {display: inline-flex; align-items: center; gap: 5px}
.mg-sw {display: inline-block; width: 14px; height: 14px; border-radius: 3px}
.mg-card {font-size: .85rem; color: #334155}
""" + PAINTER_CSS


def theme() -> gr.themes.Base:
    return gr.themes.Soft(primary_hue="indigo", secondary_hue="slate", neutral_hue="slate")


# The painter's script (slice viewer, brushes, mouse-wheel scrolling) and its styles: medgan/ui/painter.py.
HEAD = "<script>\n" + PAINTER_JS + "\n</script>"
