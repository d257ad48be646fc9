"""NIfTI-1/2 (.nii, .nii.gz) → Scan, reoriented to axial slices with the affine kept."""

from __future__ import annotations

import gzip
import os
import warnings

import numpy as np

from medgan.io.dicom_pixels import ACCEPTED, clean_nonfinite
from medgan.io.limits import ReadLimits, human_bytes
from medgan.io.scan import Scan, ScanError

# (col c, row r, slice k) of the display grid → (i, j, k) of the RAS-canonical array: i = c, j = (J-1) - r.
# Rows run anterior → posterior (anterior at the top), columns run along +x, as the embedded brain data.


def _fail(path: str, what: str) -> ScanError:
    return ScanError(f"{path}: {what}; {ACCEPTED}")


def display_affine(ras_affine: np.ndarray, ny: int) -> np.ndarray:
    """Affine of the display grid (col, row, slice) given the RAS-canonical array's affine and its y size."""
    m = np.array([[1, 0, 0, 0], [0, -1, 0, ny - 1], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=float)
    return ras_affine @ m


def to_display(ras: np.ndarray) -> np.ndarray:
    """(X, Y, Z) RAS array → (Z, Y, X) with rows flipped (anterior at the top)."""
    return np.ascontiguousarray(np.transpose(ras, (2, 1, 0))[:, ::-1, :])


def read_nifti(path: str, limits: ReadLimits, volume_index: int = 0) -> Scan:
    """Read one 3-D volume (the ``volume_index``-th of a 4-D file) as float32 (Z, H, W) axial slices."""
    import nibabel as nib
    from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation

    size = os.path.getsize(path)
    if size > limits.max_file_bytes:
        raise _fail(path, f"file of {human_bytes(size)} exceeds the limit of {human_bytes(limits.max_file_bytes)}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = nib.load(path)
            if not hasattr(img, "affine") or not hasattr(img, "dataobj"):
                raise _fail(path, f"is a {type(img).__name__} file (not a voxel volume)")
            shape = tuple(int(s) for s in img.shape)
            dtype = img.get_data_dtype()
            affine = np.asarray(img.affine, dtype=float)
    except ScanError:
        raise
    except Exception as exc:  # noqa: BLE001 - nibabel raises many types on malformed headers
        raise _fail(path, f"is not a readable NIfTI file ({type(exc).__name__}: {str(exc)[:200]})") from exc
    while len(shape) > 4 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) < 2 or len(shape) > 4 or min(shape) < 1:
        raise _fail(path, f"has {len(shape)} dimensions {shape}; 2-D, 3-D or 4-D images are accepted")
    nvol = shape[3] if len(shape) == 4 else 1
    if not 0 <= volume_index < nvol:
        raise _fail(path, f"volume_index {volume_index} is out of range: the file holds {nvol} volume(s) "
                          f"(0..{nvol - 1})")
    voxels = int(np.prod(shape[:3], dtype=np.int64))
    if voxels > limits.max_voxels:
        raise _fail(path, f"declared size {'×'.join(map(str, shape))} ({voxels:,} voxels per volume) exceeds "
                          f"the limit of {limits.max_voxels:,} voxels")
    itemsize = max(int(dtype.itemsize), 1)
    need = voxels * (volume_index + 1) * itemsize
    if need > limits.max_decompressed_bytes:
        raise _fail(path, f"reading volume {volume_index} needs {human_bytes(need)} of decoded data, over the limit "
                          f"of {human_bytes(limits.max_decompressed_bytes)}")
    if dtype.kind == "c":
        raise _fail(path, f"holds complex voxels ({dtype}); real-valued images are accepted")
    is_gz = path.lower().endswith(".gz")
    if not is_gz:
        offset = int(getattr(img.header, "get_data_offset", lambda: 0)() or 0)
        total = offset + int(np.prod(shape, dtype=np.int64)) * itemsize
        if size < total and path.lower().endswith(".nii"):
            raise _fail(path, f"is truncated: the header declares {'×'.join(map(str, shape))} {dtype} voxels "
                              f"({total:,} bytes with the header) but the file holds {size:,} bytes")
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataobj = img.dataobj
            if len(img.shape) >= 4:
                idx = (slice(None), slice(None), slice(None), volume_index) + (0,) * (len(img.shape) - 4)
                data = np.asarray(dataobj[idx])
            else:
                data = np.asarray(dataobj)
    except (EOFError, OSError, gzip.BadGzipFile, ValueError, zlib_error()) as exc:
        raise _fail(path, f"voxel data is truncated or corrupt ({type(exc).__name__}: {str(exc)[:200]})") from exc
    except MemoryError as exc:
        raise _fail(path, "not enough memory for the voxel data") from exc
    if data.dtype.names:  # RGB / RGBA structured voxels
        fields = [data[n].astype(np.float32) for n in data.dtype.names[:3]]
        data = 0.299 * fields[0] + 0.587 * fields[1] + 0.114 * fields[2]
        notes.append("RGB voxels converted to grey (BT.601 luma)")
    data = data.reshape(data.shape[:3] if data.ndim >= 3 else data.shape + (1,) * (3 - data.ndim))
    if not np.isfinite(affine).all() or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        notes.append("affine missing or invalid; identity used")
        affine = np.eye(4)
    ornt = io_orientation(affine)
    ras = apply_orientation(data, ornt)
    ras_affine = affine @ inv_ornt_aff(ornt, data.shape)
    volume = to_display(ras).astype(np.float32, copy=False)
    volume = clean_nonfinite(np.array(volume, dtype=np.float32, copy=True), path, notes)
    if nvol > 1:
        notes.append(f"volume {volume_index} of {nvol} shown")
    aff = display_affine(ras_affine, ras.shape[1])
    zooms = np.linalg.norm(aff[:3, :3], axis=0)
    meta = {"dimensions": "×".join(map(str, shape)), "data type": str(dtype)}
    if nvol > 1:
        meta["volumes"] = str(nvol)
    modality = "OT"
    if volume.size and float(volume.min()) <= -900.0 and float(volume.max()) >= 300.0:
        modality = "CT"
        notes.append("modality guessed as CT from Hounsfield-like intensities (NIfTI has no modality field)")
    return Scan(volume=volume, spacing=(float(zooms[2]), float(zooms[1]), float(zooms[0])), affine=aff,
                orientation="RAS", modality=modality, source_format="nifti", metadata=meta,
                notes=notes, source_path=path)


def zlib_error() -> type[Exception]:
    import zlib

    return zlib.error
