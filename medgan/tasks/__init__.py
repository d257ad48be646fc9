"""The five tasks: running each on a slice (:mod:`medgan.tasks.core`) or a whole volume
(:mod:`medgan.tasks.volume`), and ``python -m medgan synthesize`` (:mod:`medgan.tasks.cli`)."""

from __future__ import annotations

from medgan.tasks.core import (
    SEGMENTER,
    TASK_FUNCTIONS,
    TASKS,
    Job,
    SegCheck,
    TaskResult,
    card_value,
    check_task,
    enhance,
    generate,
    get_task,
    inpaint,
    prepare_enhancement,
    prepare_inpainting,
    prepare_segmentation,
    prepare_synthesis,
    resolve,
    run_jobs,
    segment,
    segment_labels,
    segment_many,
    segmenter,
    synthesize,
)
from medgan.tasks.volume import VolumeResult, run_volume, unit_volume

__all__ = [
    "SEGMENTER", "TASKS", "TASK_FUNCTIONS", "Job", "SegCheck", "TaskResult", "VolumeResult", "card_value",
    "check_task", "enhance", "generate", "get_task", "inpaint", "prepare_enhancement", "prepare_inpainting",
    "prepare_segmentation", "prepare_synthesis", "resolve", "run_jobs", "run_volume", "segment", "segment_labels",
    "segment_many", "segmenter", "synthesize", "unit_volume",
]
