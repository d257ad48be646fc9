"""Reading scans (DICOM, NIfTI, PNG/JPEG/TIFF) into :class:`Scan`, windowing, and writing results."""

from __future__ import annotations

from medgan.io.limits import DEFAULT_LIMITS, MIN_SIDE, ReadLimits, check_min_side
from medgan.io.reader import read_scan
from medgan.io.scan import Scan, ScanError
from medgan.io.windowing import (
    CT_PRESETS,
    DISPLAY_WINDOW,
    FitInfo,
    auto_window,
    fit_to_square,
    is_display_8bit,
    resize_image,
    resize_labels,
    take_slice,
    unfit,
    window,
    window_percentile,
)
from medgan.io.writers import write_dicom, write_nifti, write_png

__all__ = [
    "CT_PRESETS", "DEFAULT_LIMITS", "DISPLAY_WINDOW", "FitInfo", "MIN_SIDE", "ReadLimits", "Scan", "ScanError",
    "auto_window", "check_min_side", "fit_to_square", "is_display_8bit", "read_scan", "resize_image", "resize_labels", "take_slice", "unfit", "window", "window_percentile",
    "write_dicom", "write_nifti", "write_png",
]
