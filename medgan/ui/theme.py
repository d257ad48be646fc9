"""The app's look: a Gradio theme and a little CSS."""

from __future__ import annotations

import gradio as gr

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
"""


def theme() -> gr.themes.Base:
    return gr.themes.Soft(primary_hue="indigo", secondary_hue="slate", neutral_hue="slate")


# The mouse wheel over the painter scrolls slices (one slice per notch, down = next), as in a radiology viewer;
# it moves the slice slider as the arrow keys do, so the same handler redraws.
#
# Reading the painter costs the browser an export and upload of its layers before the event leaves (about a
# second on a busy machine), so the slice, axis and overlay changes go one of two ways (``mgRoute``): when
# nothing was painted since the last read, a handler that does not read the painter ("fast"); after a pointer or
# key press on the painter, one that keeps the strokes first ("keep"). Both are hidden buttons of the Studio.
HEAD = """<script>
(() => {
  window.mgPainted = false;
  const onPainter = (e) => {
    const ed = document.querySelector("#mg-editor");
    if (ed && ed.contains(e.target)) window.mgPainted = true;
  };
  document.addEventListener("pointerdown", onPainter, {capture: true});
  document.addEventListener("keydown", onPainter, {capture: true});
  window.mgRoute = (kind) => {
    const keep = window.mgPainted;
    window.mgPainted = false;
    const b = document.querySelector(`#mg-${kind}-${keep ? "keep" : "fast"}`);
    if (b) b.click();
  };
  let acc = 0;
  document.addEventListener("wheel", (e) => {
    const ed = document.querySelector("#mg-editor");
    if (!ed || !ed.contains(e.target)) return;
    const input = document.querySelector("#mg-slice input[type=range]");
    if (!input || input.disabled) return;
    e.preventDefault();
    e.stopPropagation();
    acc += e.deltaY;
    if (Math.abs(acc) < 40) return;
    const step = acc > 0 ? 1 : -1;
    acc = 0;
    const v = Math.min(Number(input.max), Math.max(Number(input.min), Number(input.value) + step));
    if (v === Number(input.value)) return;
    input.value = String(v);
    input.dispatchEvent(new Event("input", {bubbles: true}));
  }, {capture: true, passive: false});
})();
</script>"""
