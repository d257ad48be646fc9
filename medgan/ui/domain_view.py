"""How the Studio shows the domain: the warning beside a result, and the metrics table and chart of an
out-of-domain input (greyed and marked, the numbers kept)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from medgan.domain import DomainCheck

OOD_MARK = " (out of domain)"
GREY = "color: #9ca3af; font-style: italic"


def metrics_table(frame: pd.DataFrame, check: DomainCheck | None) -> Any:
    """The metrics table; for an out-of-domain input each metric name is marked and the rows are greyed
    (a pandas Styler, which gr.Dataframe renders with its styles)."""
    if check is None or check.in_domain or frame.empty:
        return frame
    frame = frame.copy()
    frame["metric"] = [m if m in ("in domain", "domain score") else f"{m}{OOD_MARK}" for m in frame["metric"]]
    return frame.style.apply(lambda row: [GREY] * len(row), axis=1)


def chart(fig: Any, check: DomainCheck | None) -> Any:
    """The chart; for an out-of-domain input its title is marked and its bars and lines are greyed, like the
    metrics table beside it (a bar chart of an out-of-domain run reads as a result as easily as the table)."""
    if check is None or check.in_domain:
        return fig
    title = fig.layout.title.text or ""  # the mark on a line of its own: a long title would push it out of view
    fig.update_layout(title=f"{title}<br>{OOD_MARK.strip()}", title_font_color="#9ca3af",
                      margin=dict(t=20 + 20 * (title.count("<br>") + 2)))
    fig.update_traces(opacity=0.45)
    return fig


def status(text: str, check: DomainCheck | None) -> str:
    """The run's status line, followed by the out-of-domain warning when there is one."""
    if check is None or check.in_domain:
        return text
    return f"{text}\n\n{check.warning()}"
