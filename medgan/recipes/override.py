"""Measure a folder of new checkpoints in place of the installed ones of the same names (the quality reports of
``train-all``): :func:`checkpoints_first` makes :func:`medgan.inference.list_cards` list that folder's cards
first, as bundled, for the rest of the process."""

from __future__ import annotations

from pathlib import Path

from medgan import inference


def checkpoints_first(folder: Path) -> list[str]:
    """From now on, cards in ``folder`` win over installed cards of the same name; returns their names."""
    original = inference.list_cards
    first = inference._scan(Path(folder), True)

    def list_cards(task: str | None = None) -> list[inference.ModelCard]:
        names = {c.name for c in first}
        rest = [c for c in original(None) if c.name not in names]
        return [c for c in first + rest if task is None or c.task == task]

    inference.list_cards = list_cards
    with inference._LOCK:  # models loaded before now came from the installed cards
        inference._CACHE.clear()
    return sorted(c.name for c in first)
