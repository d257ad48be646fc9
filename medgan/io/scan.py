"""The in-memory scan every reader returns and every task consumes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class ScanError(ValueError):
    """A file could not be read as a scan. The message names the file, what is wrong, and what is accepted."""


@dataclass
class Scan:
    """A de-identified scan.

    volume: float32 (Z, H, W) in physical units where known (CT: Hounsfield units), else raw intensities.
    spacing: voxel size in mm as (z, y, x).
    affine: 4×4 matrix from voxel index (x=W axis, y=H axis, z=Z axis) to patient/world mm (NIfTI RAS+ for
        NIfTI sources, DICOM LPS for DICOM sources; ``orientation`` says which).
    modality: DICOM-style code: "CT", "MR", "US", "SEG", "OT" (other / unknown).
    source_format: "dicom", "nifti", "png", "jpeg", "tiff", "embedded".
    metadata: de-identified header summary only (never patient name, ID, birth date, institution, accession).
    labels: optional integer label volume (Z, H, W), 0 = background (DICOM SEG, or the embedded labels).
    label_names: names of the label values, index = value (when known).
    notes: human-readable remarks from reading (e.g. "RGB converted to grey", "3 NaN voxels replaced by 0").
    source_path: the file or folder the scan came from (never shown to Turing test readers).
    dicom_template: a de-identified pydicom Dataset of one source slice, used by the DICOM writer (or None).
    """

    volume: np.ndarray
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    affine: np.ndarray = field(default_factory=lambda: np.eye(4))
    orientation: str = "RAS"
    modality: str = "OT"
    source_format: str = "png"
    metadata: dict[str, str] = field(default_factory=dict)
    labels: np.ndarray | None = None
    label_names: tuple[str, ...] | None = None
    notes: list[str] = field(default_factory=list)
    source_path: str = ""
    dicom_template: object | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.volume.shape)  # type: ignore[return-value]

    @property
    def num_slices(self) -> int:
        return int(self.volume.shape[0])

    def summary(self) -> dict[str, str]:
        """De-identified one-screen summary (modality, size, spacing, format, plus safe header fields)."""
        z, h, w = self.shape
        out = {
            "modality": self.modality,
            "format": self.source_format,
            "size (Z×H×W)": f"{z}×{h}×{w}",
            "spacing (mm, z/y/x)": "/".join(f"{s:.3g}" for s in self.spacing),
            "intensity range": f"{float(np.min(self.volume)):.4g} … {float(np.max(self.volume)):.4g}",
        }
        out.update(self.metadata)
        return out
