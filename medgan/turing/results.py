"""Study results: summary from the store, CSV export, plotly charts, and the model-card write-back."""

from __future__ import annotations

import logging
from pathlib import Path

from medgan import paths
from medgan.atomic import atomic_write_json
from medgan.checkpoints import ModelCard, json_safe
from medgan.turing.analysis import card_entry, summarize, summary_csv, votes_csv
from medgan.turing.store import TuringStore

logger = logging.getLogger(__name__)
REPO_CHECKPOINTS = paths.BUNDLED_CHECKPOINTS


def study_summary(store: TuringStore, study: str | int) -> tuple[dict, list[dict]]:
    """(summary, scored vote rows) of a study."""
    info = store.get_study(study)
    rows = store.vote_rows(info.id)
    return summarize(rows), rows


def export_csv(store: TuringStore, study: str | int, folder: str | Path) -> tuple[Path, Path, Path]:
    """Write ``<study>_votes.csv`` (every vote, practice included and flagged), ``<study>_summary.csv`` and
    ``<study>_design.json`` (see :func:`medgan.turing.design.design_record`)."""
    from medgan.turing.design import design_record

    info = store.get_study(study)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in info.name)
    votes_path, summary_path = folder / f"{safe}_votes.csv", folder / f"{safe}_summary.csv"
    rows_all = store.vote_rows(info.id, include_practice=True)
    votes_path.write_text(votes_csv(rows_all))
    summary_path.write_text(summary_csv(summarize(rows_all)))
    design_path = folder / f"{safe}_design.json"
    atomic_write_json(design_path, json_safe(design_record(store, info.id)))
    return votes_path, summary_path, design_path


def write_model_cards(store: TuringStore, study: str | int, include_repo: bool = False) -> list[Path]:
    """Write the study's results into the ``turing`` field of each contributing checkpoint's model card.

    User checkpoints (``MEDGAN_HOME/checkpoints``) always; bundled ones (``checkpoints/`` in the repo) only when
    ``include_repo``. Returns the cards written.
    """
    info = store.get_study(study)
    summary, _ = study_summary(store, info.id)
    sources = {c["source"] for c in store.case_table(info.id) if c["truth"] == "generated"}
    folders = [paths.user_checkpoint_dir()] + ([REPO_CHECKPOINTS] if include_repo else [])
    written: list[Path] = []
    for name in sorted(sources):
        for folder in folders:
            path = folder / f"{name}.json"
            if not path.is_file():
                continue
            try:
                card = ModelCard.read(path)
            except ValueError as exc:  # an unreadable card is reported, the others still get their results
                logger.warning("cannot write Turing results into %s: %s", path, exc)
                continue
            card.turing = card_entry(summary, name, info.name)
            card.write()
            written.append(path)
            logger.info("wrote Turing results of %r into %s", info.name, path)
    return written


def charts(summary: dict, rows: list[dict]) -> dict:
    """Plotly figures: per-reader accuracy with Wilson CI, ROC curve, time per case, per-source detection."""
    import plotly.graph_objects as go

    pr = summary["per_reader"]
    acc = go.Figure(go.Bar(
        x=[r["reader"] for r in pr], y=[r["accuracy"] for r in pr],
        error_y={"type": "data", "symmetric": False,
                 "array": [r["ci_high"] - r["accuracy"] for r in pr],
                 "arrayminus": [r["accuracy"] - r["ci_low"] for r in pr]}))
    acc.add_hline(y=0.5, line_dash="dash", annotation_text="chance")
    acc.update_layout(title="Accuracy per reader (Wilson 95 % CI)", yaxis_range=[0, 1], height=320)
    roc = go.Figure(go.Scatter(x=summary["roc"]["fpr"], y=summary["roc"]["tpr"], mode="lines+markers",
                               name=f"AUC {summary['auc']:.3f}" if summary["auc"] == summary["auc"] else "AUC n/a"))
    roc.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dash"}, name="chance"))
    roc.update_layout(title="ROC from confidence-weighted votes (positive = generated)",
                      xaxis_title="1 − specificity", yaxis_title="sensitivity", height=320)
    times = go.Figure(go.Histogram(x=[r["time_ms"] / 1000 for r in rows if r.get("time_ms") is not None]))
    times.update_layout(title="Time per case (s)", height=280)
    ps = summary["per_source"]
    src = go.Figure(go.Bar(x=[s["source"] for s in ps], y=[s["called_generated"] for s in ps]))
    src.update_layout(title="Fraction called 'generated' per source", yaxis_range=[0, 1], height=300)
    return {"accuracy": acc, "roc": roc, "times": times, "sources": src}
