"""DICOM Segmentation (SEG) → integer label volume aligned with the segmented frames."""

from __future__ import annotations

import warnings

import numpy as np

from medgan.io.deid import summary_metadata, template_from
from medgan.io.dicom_geometry import frame_positions, geometry, make_affine, normal_of, slice_geometry
from medgan.io.dicom_pixels import check_header, fail
from medgan.io.limits import ReadLimits
from medgan.io.scan import Scan


def _segment_numbers(ds: object, nframes: int) -> list[int]:
    per = ds.get("PerFrameFunctionalGroupsSequence") or []  # type: ignore[attr-defined]
    out = []
    for i in range(nframes):
        num = 1
        if i < len(per):
            sis = per[i].get("SegmentIdentificationSequence")
            if sis:
                num = int(sis[0].get("ReferencedSegmentNumber", 1) or 1)
        out.append(num)
    return out


def read_seg(ds: object, path: str, limits: ReadLimits) -> Scan:
    """labels (Z, H, W) uint8/uint16: value = segment number (0 = background; later segments win overlaps).

    volume is zeros (a SEG carries no image); Z = distinct frame positions sorted along the slice normal.
    """
    from pydicom.pixels import pixel_array

    frames, rows, cols = check_header(ds, path, limits)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = pixel_array(ds)  # type: ignore[arg-type]
    except BaseException as exc:  # noqa: BLE001 - includes Rust decoder panics (pyo3 PanicException)
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        raise fail(path, f"segmentation frames could not be decoded ({type(exc).__name__}: {exc})") from exc
    if arr.ndim == 2:
        arr = arr[None]
    seg_type = str(ds.get("SegmentationType", "BINARY")).upper()  # type: ignore[attr-defined]
    if seg_type == "FRACTIONAL":
        threshold = float(ds.get("MaximumFractionalValue", 255) or 255) / 2.0  # type: ignore[attr-defined]
        masks = arr > threshold
    else:
        masks = arr > 0
    nums = _segment_numbers(ds, frames)
    notes: list[str] = [f"DICOM SEG ({seg_type.lower()}) read as a label volume"]
    iop, spacing_rc, dz = geometry(ds)
    positions = frame_positions(ds, frames)
    normal = normal_of(iop)
    if positions is not None:
        proj_all = np.round(np.array([float(p @ normal) for p in positions]), 3)
        uniq, z_of = np.unique(proj_all, return_inverse=True)
        first_pos = {}
        for i, zi in enumerate(z_of):
            first_pos.setdefault(int(zi), positions[i])
        slice_positions = [first_pos[i] for i in range(uniq.size)]
    else:
        counts = {n: nums.count(n) for n in set(nums)}
        per_seg = max(counts.values())
        seen: dict[int, int] = {}
        z_of = np.zeros(frames, dtype=int)
        for i, n in enumerate(nums):
            z_of[i] = seen.get(n, 0)
            seen[n] = z_of[i] + 1
        uniq = np.arange(per_seg, dtype=float)
        slice_positions = None
        notes.append("frame positions missing; frames assigned to slices in order per segment")
    nz = int(uniq.size)
    dtype = np.uint8 if max(nums, default=1) < 256 else np.uint16
    labels = np.zeros((nz, rows, cols), dtype=dtype)
    for i in range(frames):
        labels[int(z_of[i])][masks[i]] = nums[i]
    names = {0: "background"}
    for item in ds.get("SegmentSequence") or []:  # type: ignore[attr-defined]
        try:
            names[int(item.SegmentNumber)] = str(item.get("SegmentLabel", "") or f"segment {item.SegmentNumber}")
        except (AttributeError, TypeError, ValueError):
            continue
    top = max(max(names), int(labels.max()))
    label_names = tuple(names.get(i, f"segment {i}") for i in range(top + 1))
    dz, step, origin = slice_geometry(uniq.astype(float), slice_positions, iop, dz, notes)
    meta = summary_metadata(ds)
    meta["segments"] = ", ".join(label_names[1:])
    return Scan(
        volume=np.zeros(labels.shape, dtype=np.float32), spacing=(float(dz), spacing_rc[0], spacing_rc[1]),
        affine=make_affine(iop, spacing_rc, origin, step), orientation="LPS", modality="SEG",
        source_format="dicom", metadata=meta, labels=labels, label_names=label_names, notes=notes,
        source_path=path, dicom_template=template_from(ds),
    )
