"""Real slices of other anatomy and modalities that ship in ``pydicom-data``, for training models that must not
be brain-only (enhancement). The scans the quality benchmark tests on (:data:`BENCHMARK_FILES`, and every other
encoding of the same images) are never used here, so the benchmark's real-scan figures stay held out.
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

# Training scans: radiographs, CT and NM images that are not encodings of the benchmark's scans.
TRAIN_FILES: tuple[str, ...] = ("RG1_UNCR.dcm", "RG3_UNCR.dcm", "eCT_Supplemental.dcm", "J2K_pixelrep_mismatch.dcm",
                                "JPEG2000.dcm")
# The benchmark's real slices (medgan.evaluation.quality.REAL_SCANS) and their other encodings: never trained on.
BENCHMARK_FILES: tuple[str, ...] = ("CT_small.dcm", "693_J2KR.dcm", "693_J2KI.dcm", "693_UNCR.dcm", "MR_small.dcm",
                                    "emri_small.dcm", "MR2_J2KR.dcm", "MR2_J2KI.dcm", "MR2_UNCR.dcm",
                                    "MR-SIEMENS-DICOM-WithOverlays.dcm", "examples_overlay.dcm")


def pydicom_training_slices(size: int = 256) -> np.ndarray:
    """Every frame of :data:`TRAIN_FILES`, windowed like the Studio (CT soft tissue, else 0.5–99.5 percentiles),
    padded to a square and resized to ``size``: float32 (N, size, size) in [0, 1]."""
    from medgan.io import fit_to_square

    out = []
    for name in TRAIN_FILES:
        for frame in windowed_frames(name):
            sq, _ = fit_to_square(frame, size)
            out.append(np.clip(sq, 0, 1).astype(np.float32))
    return np.stack(out) if out else np.zeros((0, size, size), np.float32)


def windowed_frames(name: str) -> np.ndarray:
    """Every frame of the pydicom-data file ``name`` windowed like the Studio's auto window (CT soft tissue, else
    the 0.5–99.5 percentiles): float32 (Z, H, W) in [0, 1]; empty (0, 0, 0) when pydicom-data lacks the file."""
    from pydicom.data import get_testdata_file

    from medgan.io import auto_window, read_scan, window

    path = get_testdata_file(name)
    if path is None:
        logger.warning("pydicom-data lacks %s; skipped", name)
        return np.zeros((0, 0, 0), np.float32)
    scan = read_scan(path)
    level, width = auto_window(scan)
    return window(np.asarray(scan.volume, np.float32), level, width)
