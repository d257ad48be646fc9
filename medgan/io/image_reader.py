"""PNG / JPEG / TIFF (8- or 16-bit, grey or colour, multi-page TIFF) → Scan (Z, H, W)."""

from __future__ import annotations

import os
import warnings

import numpy as np

from medgan.io.dicom_pixels import ACCEPTED, clean_nonfinite
from medgan.io.limits import ReadLimits, human_bytes
from medgan.io.scan import Scan, ScanError

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _fail(path: str, what: str) -> ScanError:
    return ScanError(f"{path}: {what}; {ACCEPTED}")


def _check(path: str, limits: ReadLimits, frames: int, h: int, w: int, bands: int, itemsize: int) -> None:
    if h <= 0 or w <= 0 or frames <= 0:
        raise _fail(path, f"declares an empty image ({frames}×{h}×{w})")
    voxels = frames * h * w
    if voxels > limits.max_voxels:
        raise _fail(path, f"declared size {frames}×{h}×{w} ({voxels:,} pixels) exceeds the limit of "
                          f"{limits.max_voxels:,}")
    nbytes = voxels * bands * itemsize
    if nbytes > limits.max_decompressed_bytes:
        raise _fail(path, f"declared pixel data of {human_bytes(nbytes)} exceeds the limit of "
                          f"{human_bytes(limits.max_decompressed_bytes)} decompressed bytes")


def to_grey(arr: np.ndarray, notes: list[str], what: str = "RGB") -> np.ndarray:
    """(…, C) colour → (…) float32 luma; (…) grey passes through as float32."""
    if arr.ndim >= 3 and arr.shape[-1] in (2, 3, 4):
        if arr.shape[-1] == 2:  # grey + alpha
            out = arr[..., 0].astype(np.float32)
        else:
            out = np.tensordot(arr[..., :3].astype(np.float32), _LUMA, axes=([-1], [0]))
            note = f"{what} image converted to grey (BT.601 luma)"
            if note not in notes:
                notes.append(note)
        return out.astype(np.float32, copy=False)
    return arr.astype(np.float32)


def _png_is_16bit_colour(path: str) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(33)
    return len(head) >= 26 and head[12:16] == b"IHDR" and head[24] == 16 and head[25] in (2, 6)


def read_tiff(path: str, limits: ReadLimits) -> Scan:
    import tifffile

    notes: list[str] = []
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            shape, dtype = tuple(int(s) for s in series.shape), np.dtype(series.dtype)
            axes = series.axes
            colour = axes.endswith("S") and shape[-1] in (3, 4)
            spatial = shape[:-1] if colour else shape
            if len(spatial) < 2:
                raise _fail(path, f"has unexpected dimensions {shape} ({axes})")
            h, w = spatial[-2], spatial[-1]
            frames = int(np.prod(spatial[:-2], dtype=np.int64)) if len(spatial) > 2 else 1
            _check(path, limits, frames, h, w, shape[-1] if colour else 1, dtype.itemsize)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                arr = series.asarray()
    except ScanError:
        raise
    except Exception as exc:  # noqa: BLE001 - tifffile raises many types on corrupt files
        raise _fail(path, f"is not a readable TIFF image ({type(exc).__name__}: {str(exc)[:200]})") from exc
    arr = to_grey(arr, notes) if colour else arr.astype(np.float32)
    arr = arr.reshape((frames, h, w))
    return _scan(arr, path, "tiff", notes, dtype)


def read_raster(path: str, limits: ReadLimits, kind: str) -> Scan:
    """PNG or JPEG (or TIFF, via tifffile) as float32 (1, H, W) raw intensities (0–255 or 0–65535)."""
    if kind == "tiff":
        return read_tiff(path, limits)
    from PIL import Image

    size = os.path.getsize(path)
    if size > limits.max_file_bytes:
        raise _fail(path, f"file of {human_bytes(size)} exceeds the limit of {human_bytes(limits.max_file_bytes)}")
    notes: list[str] = []
    if kind == "png":  # check the declared size from IHDR before the decoder sees it
        with open(path, "rb") as fh:
            head = fh.read(26)
        if len(head) >= 24 and head[12:16] == b"IHDR":
            _check(path, limits, 1, int.from_bytes(head[20:24], "big"), int.from_bytes(head[16:20], "big"), 1, 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(path)
            w, h = img.size
            bands = len(img.getbands())
            itemsize = 2 if img.mode.startswith("I;16") else (4 if img.mode in ("I", "F") else 1)
            _check(path, limits, 1, h, w, bands, itemsize)
            mode = img.mode
            if mode == "P" or mode == "PA":
                img = img.convert("RGBA" if "transparency" in img.info or mode == "PA" else "RGB")
                notes.append("palette image converted to grey")
            elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
                img = img.convert("RGB")
            elif mode == "1":
                img = img.convert("L")
            arr = np.asarray(img)
            img.close()
    except ScanError:
        raise
    except Image.DecompressionBombError as exc:
        raise _fail(path, f"declared image size exceeds the limit of the image decoder ({exc})") from exc
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types on corrupt files
        raise _fail(path, f"is not a readable {kind.upper()} image or is truncated "
                          f"({type(exc).__name__}: {str(exc)[:200]})") from exc
    if arr.dtype.kind in "ui" and arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    src_dtype = arr.dtype
    if kind == "png" and _png_is_16bit_colour(path):
        notes.append("16-bit colour PNG decoded at 8 bits per channel")
    grey = to_grey(arr, notes) if arr.ndim == 3 else arr.astype(np.float32)
    return _scan(grey[None], path, kind, notes, src_dtype)


def _scan(volume: np.ndarray, path: str, kind: str, notes: list[str], dtype: np.dtype) -> Scan:
    volume = clean_nonfinite(np.ascontiguousarray(volume, dtype=np.float32), path, notes)
    meta = {"dimensions": "×".join(str(s) for s in volume.shape[1:]), "data type": str(dtype)}
    if volume.shape[0] > 1:
        meta["pages"] = str(volume.shape[0])
    # Display-grid affine (row 0 at the top, +y up), the convention read_scan gives NIfTI slices.
    affine = np.array([[1, 0, 0, 0], [0, -1, 0, volume.shape[1] - 1], [0, 0, 1, 0], [0, 0, 0, 1]], float)
    return Scan(volume=volume, spacing=(1.0, 1.0, 1.0), affine=affine, orientation="RAS", modality="OT",
                source_format=kind, metadata=meta, notes=notes, source_path=path)
