"""Writing results: PNG (8/16-bit), NIfTI (source affine kept), DICOM (derived, marked synthetic, de-identified).

Every write is atomic: the file is written to a temporary name in the target folder, then ``os.replace``-d.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from medgan.atomic import atomic_write_file
from medgan.io.scan import Scan

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
# Source SOP classes a derived single-frame slice may keep; anything else becomes Secondary Capture.
_KEEP_SOP = {
    "1.2.840.10008.5.1.4.1.1.2": "CT", "1.2.840.10008.5.1.4.1.1.4": "MR", "1.2.840.10008.5.1.4.1.1.1": "CR",
    "1.2.840.10008.5.1.4.1.1.7": "OT",
}
SYNTHETIC_MARK = "SYNTHETIC"


def _atomic(path: str | os.PathLike[str], write: Callable[[str], None]) -> Path:
    return atomic_write_file(Path(path), lambda tmp: write(str(tmp)))


def _to_uint(image: np.ndarray, bits: int) -> np.ndarray:
    """float [0, 1] → uint8/uint16 full scale; integer arrays (label maps) are kept, range-checked."""
    arr = np.asarray(image)
    dtype = np.uint8 if bits == 8 else np.uint16
    if arr.dtype.kind in "ui" or arr.dtype == bool:
        top = int(arr.max()) if arr.size else 0
        if (arr.size and int(arr.min()) < 0) or top > np.iinfo(dtype).max:
            raise ValueError(f"integer values {int(arr.min())}..{top} do not fit in {bits}-bit PNG")
        return arr.astype(dtype)
    scale = float(np.iinfo(dtype).max)
    clean = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.rint(np.clip(clean, 0.0, 1.0) * scale).astype(dtype)


def write_png(path: str | os.PathLike[str], image: np.ndarray, bits: int = 8) -> Path:
    """Grey PNG from (H, W) float in [0, 1] (scaled to full range) or integers (written as they are)."""
    from PIL import Image

    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(f"write_png expects an (H, W) image, got shape {arr.shape}")
    data = _to_uint(arr, bits)
    return _atomic(path, lambda tmp: Image.fromarray(np.ascontiguousarray(data)).save(tmp, format="PNG"))


def write_nifti(path: str | os.PathLike[str], volume: np.ndarray, affine: np.ndarray | None = None,
                is_labels: bool = False, *, orientation: str = "RAS") -> Path:
    """NIfTI (.nii or .nii.gz) from a (Z, H, W) or (H, W) array and its (col, row, slice) → world affine.

    ``orientation="LPS"`` (DICOM-sourced affines) converts the affine to NIfTI's RAS world. Reading the file
    back with ``read_scan`` returns the same volume and affine for RAS display-grid affines (those of scans
    read from NIfTI/PNG). Labels are stored as uint8/uint16, images as float32.
    """
    import nibabel as nib

    vol = np.asarray(volume)
    if vol.ndim == 2:
        vol = vol[None]
    if vol.ndim != 3:
        raise ValueError(f"write_nifti expects (Z, H, W) or (H, W), got shape {vol.shape}")
    if affine is None:  # same convention as read_scan gives raster images: row 0 at the top (+y up)
        affine = np.array([[1, 0, 0, 0], [0, -1, 0, vol.shape[1] - 1], [0, 0, 1, 0], [0, 0, 0, 1]], float)
    aff = np.asarray(affine, dtype=float)
    if orientation.upper() == "LPS":
        aff = LPS_TO_RAS @ aff
    elif orientation.upper() != "RAS":
        raise ValueError(f"orientation must be 'RAS' or 'LPS', got {orientation!r}")
    if is_labels:
        top = int(vol.max()) if vol.size else 0
        data = vol.astype(np.uint8 if top < 256 else np.uint16)
    else:
        data = vol.astype(np.float32)
    img = nib.Nifti1Image(np.ascontiguousarray(np.transpose(data, (2, 1, 0))), aff)
    img.set_sform(aff, code=1)
    img.set_qform(aff, code=1)
    img.header.set_xyzt_units("mm")
    if is_labels:
        img.header.set_intent("label")
    name = str(path)
    if not name.endswith((".nii", ".nii.gz")):
        raise ValueError(f"NIfTI file names end with .nii or .nii.gz, got {name!r}")
    return _atomic(path, lambda tmp: nib.save(img, tmp))


def _base_dataset(source: Scan) -> tuple[object, bool]:
    """Deep copy of the source's de-identified template, or a fresh Secondary Capture dataset."""
    from pydicom.dataset import Dataset

    tpl = source.dicom_template
    if isinstance(tpl, Dataset):
        ds = copy.deepcopy(tpl)
        if str(ds.get("SOPClassUID", "")) not in _KEEP_SOP:
            ds.SOPClassUID = SECONDARY_CAPTURE
        return ds, True
    ds = Dataset()
    ds.SOPClassUID = SECONDARY_CAPTURE
    ds.Modality = source.modality if source.modality not in ("SEG", "") else "OT"
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                    "ReferringPhysicianName", "StudyID", "AccessionNumber"):
        setattr(ds, keyword, "")
    ds.PatientIdentityRemoved = "YES"
    ds.PixelSpacing = [f"{source.spacing[1]:.6g}", f"{source.spacing[2]:.6g}"]
    return ds, False


def _fill(ds: object, img: np.ndarray, *, model_name: str, description: str, study: str, series: str,
          frame_of_ref: str, number: int, value_range: tuple[float, float] | None) -> None:
    from pydicom.uid import generate_uid

    rows, cols = img.shape
    old_rows, old_cols = int(ds.get("Rows", rows) or rows), int(ds.get("Columns", cols) or cols)  # type: ignore[attr-defined]
    ps = ds.get("PixelSpacing")  # type: ignore[attr-defined]
    if ps is not None and (old_rows, old_cols) != (rows, cols):  # keep the field of view
        ds.PixelSpacing = [f"{float(ps[0]) * old_rows / rows:.6g}", f"{float(ps[1]) * old_cols / cols:.6g}"]  # type: ignore[attr-defined]
    clean = np.clip(np.nan_to_num(img.astype(np.float32), nan=0.0), 0.0, 1.0)
    stored = np.rint(clean * 4095.0).astype(np.uint16)
    lo, hi = value_range if value_range is not None else (0.0, 4095.0)
    ds.Rows, ds.Columns = rows, cols  # type: ignore[attr-defined]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"  # type: ignore[attr-defined]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0  # type: ignore[attr-defined]
    ds.RescaleSlope = f"{(hi - lo) / 4095.0:.8g}"  # type: ignore[attr-defined]
    ds.RescaleIntercept = f"{lo:.8g}"  # type: ignore[attr-defined]
    if value_range is None and "RescaleType" in ds:  # type: ignore[operator]
        del ds.RescaleType  # type: ignore[attr-defined]
    ds.WindowCenter, ds.WindowWidth = f"{(lo + hi) / 2:.6g}", f"{max(hi - lo, 1e-3):.6g}"  # type: ignore[attr-defined]
    ds.PixelData = stored.tobytes()  # type: ignore[attr-defined]
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: model names and descriptions may be non-ASCII  # type: ignore[attr-defined]
    ds.ImageType = ["DERIVED", "SECONDARY"]  # type: ignore[attr-defined]
    ds.BurnedInAnnotation = "NO"  # type: ignore[attr-defined]
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series  # type: ignore[attr-defined]
    ds.FrameOfReferenceUID = frame_of_ref  # type: ignore[attr-defined]
    ds.SOPInstanceUID = generate_uid()  # type: ignore[attr-defined]
    ds.InstanceNumber, ds.SeriesNumber = number, 999  # type: ignore[attr-defined]
    text = f"{SYNTHETIC_MARK} image generated by the model '{model_name}' (medgan studio); not an acquired image"
    if description:
        text += f": {description}"
    ds.ImageComments = text[:10240]  # type: ignore[attr-defined]
    ds.DerivationDescription = text[:1024]  # type: ignore[attr-defined]
    ds.SeriesDescription = f"{SYNTHETIC_MARK} {model_name}"[:64]  # type: ignore[attr-defined]
    ds.Manufacturer = "medgan studio"  # type: ignore[attr-defined]
    for kw in ("ManufacturerModelName", "SliceLocation"):
        if kw in ds:  # type: ignore[operator]
            delattr(ds, kw)
    if str(ds.SOPClassUID) == SECONDARY_CAPTURE:  # type: ignore[attr-defined]
        ds.ConversionType = "WSD"  # type: ignore[attr-defined]
    ds.remove_private_tags()  # type: ignore[attr-defined]


def _save(ds: object, path: str | os.PathLike[str]) -> Path:
    from pydicom import dcmwrite
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID  # type: ignore[attr-defined]
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID  # type: ignore[attr-defined]
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta  # type: ignore[attr-defined]
    return _atomic(path, lambda tmp: dcmwrite(tmp, ds, enforce_file_format=True))  # type: ignore[arg-type]


def write_dicom(path: str | os.PathLike[str], image: np.ndarray, source: Scan, model_name: str,
                description: str = "", *, value_range: tuple[float, float] | None = None,
                slice_index: int | None = None) -> list[Path]:
    """Derived DICOM, marked synthetic and de-identified; returns the written files.

    image: (H, W) float in [0, 1] → one file at ``path``; (Z, H, W) → ``path`` is a folder and each slice is
    written as its own file ``IM0001.dcm`` … (one series, positions from ``source.affine``).
    Stored as 12-bit values 0..4095 with RescaleSlope/Intercept mapping [0, 1] to ``value_range`` (physical
    units, e.g. the HU window used) or to 0..4095 when it is None. Built from ``source.dicom_template``
    when present (geometry kept; ``slice_index`` picks the source slice position), else Secondary Capture.
    New Study/Series/SOP UIDs; ImageType DERIVED\\SECONDARY; ImageComments + DerivationDescription name the
    model and say SYNTHETIC; BurnedInAnnotation NO; no patient identifiers, no private tags.
    """
    from pydicom.uid import generate_uid

    arr = np.asarray(image)
    if arr.ndim not in (2, 3):
        raise ValueError(f"write_dicom expects (H, W) or (Z, H, W), got shape {arr.shape}")
    study, series, frame_of_ref = generate_uid(), generate_uid(), generate_uid()
    volume = arr[None] if arr.ndim == 2 else arr
    written: list[Path] = []
    for k, img in enumerate(volume):
        ds, from_template = _base_dataset(source)
        z = (slice_index if arr.ndim == 2 else k) if from_template else None
        if z is not None and source.orientation == "LPS" and "ImagePositionPatient" in ds:  # type: ignore[operator]
            pos = source.affine @ np.array([0.0, 0.0, float(z), 1.0])
            ds.ImagePositionPatient = [f"{v:.6g}" for v in pos[:3]]  # type: ignore[attr-defined]
        _fill(ds, img, model_name=model_name, description=description, study=study, series=series,
              frame_of_ref=frame_of_ref, number=k + 1, value_range=value_range)
        target = Path(path) if arr.ndim == 2 else Path(path) / f"IM{k + 1:04d}.dcm"
        written.append(_save(ds, target))
    return written
