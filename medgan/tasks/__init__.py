"""The five tasks: their rules (:data:`TASKS`, one :class:`TaskSpec` each, :mod:`medgan.tasks.specs`), the
encode / decode of a slice (:mod:`medgan.tasks.encode`), running a model on slices (:mod:`medgan.tasks.core`)
or a whole volume (:mod:`medgan.tasks.volume`), and ``python -m medgan synthesize`` (:mod:`medgan.tasks.cli`)."""

from __future__ import annotations

from medgan.tasks.core import (
    SEGMENTER,
    TASK_FUNCTIONS,
    check_task,
    enhance,
    generate,
    get_task,
    inpaint,
    resolve,
    run_jobs,
    segment,
    segment_labels,
    segment_many,
    segmenter,
    synthesize,
)
from medgan.tasks.encode import (
    Job,
    SegCheck,
    TaskResult,
    card_value,
    prepare_enhancement,
    prepare_generation,
    prepare_inpainting,
    prepare_segmentation,
    prepare_synthesis,
)
from medgan.tasks.specs import TASK_NAMES, TASKS, TaskSpec, get_spec
from medgan.tasks.volume import TISSUE, VolumeResult, run_volume, unit_volume

__all__ = [
    "SEGMENTER", "TISSUE", "TASKS", "TASK_NAMES", "TaskSpec", "get_spec", "prepare_generation", "TASK_FUNCTIONS", "Job", "SegCheck", "TaskResult", "VolumeResult", "card_value",
    "check_task", "enhance", "generate", "get_task", "inpaint", "prepare_enhancement", "prepare_inpainting",
    "prepare_segmentation", "prepare_synthesis", "resolve", "run_jobs", "run_volume", "segment", "segment_labels",
    "segment_many", "segmenter", "synthesize", "unit_volume",
]
