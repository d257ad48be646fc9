"""Reading scans (DICOM, NIfTI, PNG/JPEG/TIFF) into :class:`Scan`, windowing, and writing results."""

from __future__ import annotations

from medgan.io.scan import Scan, ScanError

__all__ = ["Scan", "ScanError"]
