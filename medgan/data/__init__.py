"""Datasets: the embedded brain MRI, folder datasets, phantoms, corruptions."""

from __future__ import annotations

from medgan.data.brain import CLASS_NAMES, NUM_CLASSES, BrainSlices, brain_scan, load_brain, load_brain_volume

__all__ = ["CLASS_NAMES", "NUM_CLASSES", "BrainSlices", "brain_scan", "load_brain", "load_brain_volume"]
