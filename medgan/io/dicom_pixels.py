"""Header checks and pixel decoding for one DICOM dataset: limits first, then decode, rescale, grey, invert."""

from __future__ import annotations

import logging
import math
import warnings

import numpy as np

from medgan.io.limits import ReadLimits, human_bytes
from medgan.io.scan import ScanError

log = logging.getLogger(__name__)

ACCEPTED = ("accepted: DICOM images (CT, MR, US, X-ray, ...; single- or multi-frame, any standard transfer "
            "syntax), DICOM SEG, a folder/zip of one DICOM series, NIfTI (.nii/.nii.gz), PNG/JPEG/TIFF")

SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
_PIXEL_TAGS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_GREY_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601 luma


def fail(path: str, what: str) -> ScanError:
    """ScanError naming the file, what is wrong, and what is accepted."""
    return ScanError(f"{path}: {what}; {ACCEPTED}")


def sop_name(ds: object) -> str:
    from pydicom.uid import UID

    uid = getattr(ds, "SOPClassUID", None)
    if not uid:
        meta = getattr(ds, "file_meta", None)
        uid = getattr(meta, "MediaStorageSOPClassUID", None) if meta is not None else None
    return UID(str(uid)).name if uid else "unknown SOP class"


def _int(ds: object, keyword: str, default: int | None = None) -> int | None:
    try:
        value = ds.get(keyword, default)  # type: ignore[attr-defined]
        return default if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return default


def pixel_keyword(ds: object) -> str | None:
    for kw in _PIXEL_TAGS:
        if kw in ds:  # type: ignore[operator]
            return kw
    return None


def check_header(ds: object, path: str, limits: ReadLimits, voxels_before: int = 0) -> tuple[int, int, int]:
    """Validate the image pixel module without decoding. Returns (frames, rows, cols).

    Raises ScanError for non-image objects, missing/absurd dimensions, limits, and native pixel data that is
    shorter than the header declares.
    """
    kw = pixel_keyword(ds)
    if kw is None:
        name = sop_name(ds)
        if "Image Storage" in name:
            raise fail(path, f"{name} file holds no pixel data (header only, or the file is truncated)")
        raise fail(path, f"{name} object has no pixel data (it is not an image)")
    rows, cols = _int(ds, "Rows"), _int(ds, "Columns")
    frames = _int(ds, "NumberOfFrames", -1)
    if frames == -1:
        if ds.get("NumberOfFrames") not in (None, ""):  # type: ignore[attr-defined]
            raise fail(path, f"NumberOfFrames {ds.get('NumberOfFrames')!r} is not a number")  # type: ignore[attr-defined]
        frames = 1
    frames = frames or 1
    spp = _int(ds, "SamplesPerPixel", 1) or 1
    bits = _int(ds, "BitsAllocated", 0 if kw == "PixelData" else 32) or 0
    if kw == "DoubleFloatPixelData":
        bits = 64
    if not rows or not cols or rows < 0 or cols < 0 or frames < 0 or bits <= 0 or spp not in (1, 3, 4):
        raise fail(path, f"image header is incomplete or invalid (Rows={rows}, Columns={cols}, "
                         f"NumberOfFrames={frames}, BitsAllocated={bits}, SamplesPerPixel={spp})")
    voxels = rows * cols * frames
    if voxels + voxels_before > limits.max_voxels:
        raise fail(path, f"declared size {frames}×{rows}×{cols} ({voxels + voxels_before:,} voxels in total) "
                         f"exceeds the limit of {limits.max_voxels:,} voxels")
    nbytes = math.ceil(voxels * spp * bits / 8)
    if nbytes > limits.max_decompressed_bytes:
        raise fail(path, f"declared pixel data of {human_bytes(nbytes)} exceeds the limit of "
                         f"{human_bytes(limits.max_decompressed_bytes)} decompressed bytes")
    meta = getattr(ds, "file_meta", None)
    ts = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    compressed = bool(ts is not None and getattr(ts, "is_compressed", False))
    if not compressed:
        value = ds[kw].value  # type: ignore[index]
        have = len(value) if value is not None else 0
        need = nbytes
        if str(ds.get("PhotometricInterpretation", "")) == "YBR_FULL_422":  # type: ignore[attr-defined]
            need = math.ceil(voxels * 2 * bits / 8)
        if have < need:
            raise fail(path, f"pixel data is truncated or smaller than declared: header says {frames}×{rows}×"
                             f"{cols}×{spp} samples at {bits} bits ({need:,} bytes) but the file holds {have:,}")
    return frames, rows, cols


def _frame_rescale(ds: object) -> list[tuple[float, float]] | None:
    """Per-frame (slope, intercept) from enhanced functional groups, or None if not present."""
    per = ds.get("PerFrameFunctionalGroupsSequence")  # type: ignore[attr-defined]
    shared = ds.get("SharedFunctionalGroupsSequence")  # type: ignore[attr-defined]
    shared_pvt = None
    if shared:
        seq = shared[0].get("PixelValueTransformationSequence")
        if seq:
            shared_pvt = seq[0]
    out: list[tuple[float, float]] = []
    found = shared_pvt is not None
    nframes = _int(ds, "NumberOfFrames", 1) or 1
    for i in range(nframes):
        item = shared_pvt
        if per and i < len(per):
            seq = per[i].get("PixelValueTransformationSequence")
            if seq:
                item, found = seq[0], True
        if item is None:
            out.append((1.0, 0.0))
        else:
            out.append((float(item.get("RescaleSlope", 1) or 1), float(item.get("RescaleIntercept", 0) or 0)))
    return out if found else None


JPEG_BASELINE = "1.2.840.10008.1.2.4.50"


_NATIVE_LE = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1")


def _native_grey(ds: object, ts: str) -> np.ndarray | None:
    """Uncompressed little-endian greyscale 8/16/32-bit pixels straight from the buffer (what pydicom's
    native decoder returns, high bits masked / sign-extended, without its per-call overhead); else None."""
    if ts not in _NATIVE_LE or "PixelData" not in ds:  # type: ignore[operator]
        return None
    spp, bits = _int(ds, "SamplesPerPixel", 1), _int(ds, "BitsAllocated", 0)
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()  # type: ignore[attr-defined]
    if spp != 1 or bits not in (8, 16, 32) or photometric not in ("MONOCHROME1", "MONOCHROME2"):
        return None
    rows, cols = _int(ds, "Rows", 0) or 0, _int(ds, "Columns", 0) or 0
    frames = _int(ds, "NumberOfFrames", 1) or 1
    signed = _int(ds, "PixelRepresentation", 0) == 1
    stored = _int(ds, "BitsStored", bits) or bits
    if not 0 < stored <= bits:
        return None
    data = ds.PixelData  # type: ignore[attr-defined]
    count = rows * cols * frames
    if len(data) < count * bits // 8:
        return None
    arr = np.frombuffer(data, dtype=f"<{'i' if signed else 'u'}{bits // 8}", count=count)
    arr = arr.reshape((frames, rows, cols) if frames > 1 else (rows, cols))
    if stored < bits:
        if signed:
            shift = bits - stored
            arr = (arr << shift) >> shift
        else:
            arr = arr & arr.dtype.type((1 << stored) - 1)
    return arr


def _pixel_array(ds: object, as_rgb: bool) -> np.ndarray:
    """pydicom decode; JPEG baseline goes to Pillow (libjpeg-turbo, ~6× faster) first, then any plugin."""
    from pydicom.pixels import pixel_array

    meta = getattr(ds, "file_meta", None)
    ts = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    fast = _native_grey(ds, ts)
    if fast is not None:
        return fast
    if meta is not None and str(meta.get("TransferSyntaxUID", "")) == JPEG_BASELINE:
        try:
            return pixel_array(ds, as_rgb=as_rgb, decoding_plugin="pillow")  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - fall back to the other installed decoders
            log.debug("Pillow could not decode JPEG baseline data; trying the other plugins")
    return pixel_array(ds, as_rgb=as_rgb)  # type: ignore[arg-type]


def decode(ds: object, path: str, notes: list[str], out: np.ndarray | None = None) -> np.ndarray:
    """Decode pixel data to float32 (F, H, W) in modality units: rescaled, grey, MONOCHROME1 inverted.

    ``out`` (optional float32 (F, H, W)) is filled in place to avoid a copy when assembling series.
    """
    from pydicom.pixels import apply_color_lut

    spp = _int(ds, "SamplesPerPixel", 1) or 1
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()  # type: ignore[attr-defined]
    # YBR_FULL(_422): keep the decoded Y (BT.601 luma) channel; skips pydicom's slow YBR → RGB conversion.
    luma_channel = spp == 3 and photometric in ("YBR_FULL", "YBR_FULL_422")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = _pixel_array(ds, as_rgb=not luma_channel)
    except RecursionError as exc:
        raise fail(path, "pixel data is nested too deeply to decode") from exc
    except MemoryError as exc:
        raise fail(path, "not enough memory to decode the pixel data") from exc
    except (NotImplementedError, RuntimeError) as exc:
        meta = getattr(ds, "file_meta", None)
        ts = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
        name = getattr(ts, "name", str(ts))
        msg = " | ".join(line.strip() for line in str(exc).splitlines() if line.strip())[:500]
        if "plugin" in msg.lower() or "no " in msg.lower() or "unable" in msg.lower():
            raise fail(path, f"no decoder could decode transfer syntax '{name}' ({msg}); installed decoders: "
                             "pylibjpeg (+openjpeg, libjpeg, rle), pyjpegls, pillow") from exc
        raise fail(path, f"pixel data could not be decoded ({name}: {msg})") from exc
    except Exception as exc:  # noqa: BLE001 - decoders raise many types on corrupt data
        raise fail(path, f"pixel data could not be decoded ({type(exc).__name__}: {str(exc)[:300]})") from exc
    except BaseException as exc:  # Rust decoders panic with pyo3 PanicException (a BaseException)
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        raise fail(path, f"pixel data is corrupt: the decoder failed ({type(exc).__name__}: "
                         f"{str(exc)[:200]})") from exc

    if photometric == "PALETTE COLOR" and spp == 1:
        try:
            arr = apply_color_lut(arr, ds)
            spp = 3
            notes.append("palette colour image converted to grey")
        except Exception as exc:  # noqa: BLE001
            raise fail(path, f"palette colour lookup table is invalid ({exc})") from exc
    colour = spp > 1
    if luma_channel and arr.ndim >= 3 and arr.shape[-1] == 3:
        arr = arr[..., 0]
        notes.append(f"{photometric} colour image: luma (Y) channel kept as grey")
    elif colour:
        rgb = arr[..., :3]
        grey = np.tensordot(rgb.astype(np.float32, copy=False), _GREY_WEIGHTS, axes=([-1], [0]))
        arr = grey.astype(np.float32, copy=False)
        if not any("grey" in n for n in notes):
            notes.append(f"{photometric} colour image converted to grey (BT.601 luma)")
    if arr.ndim == 2:
        arr = arr[None]
    if out is None:
        out = np.empty(arr.shape, dtype=np.float32)
    elif out.shape != arr.shape:
        raise fail(path, f"decoded pixel data has shape {arr.shape}, expected {out.shape}")

    per_frame = _frame_rescale(ds)
    if per_frame is not None and len(set(per_frame)) > 1:
        for i, (slope, icpt) in enumerate(per_frame):
            np.multiply(arr[i], np.float32(slope), out=out[i], casting="unsafe")
            out[i] += np.float32(icpt)
    else:
        if per_frame is not None:
            slope, icpt = per_frame[0]
        else:
            slope = float(ds.get("RescaleSlope", 1) or 1)  # type: ignore[attr-defined]
            icpt = float(ds.get("RescaleIntercept", 0) or 0)  # type: ignore[attr-defined]
            if "ModalityLUTSequence" in ds and not colour:  # type: ignore[operator]
                from pydicom.pixels import apply_modality_lut

                out[...] = apply_modality_lut(arr, ds)  # type: ignore[arg-type]
                slope, icpt = 1.0, 0.0
                arr = out
                notes.append("modality LUT applied")
        if arr is not out:
            if slope == 1.0:
                out[...] = arr
            else:
                np.multiply(arr, np.float32(slope), out=out, casting="unsafe")
            if icpt != 0.0:
                out += np.float32(icpt)
    if photometric == "MONOCHROME1":
        lo, hi = float(out.min()), float(out.max())
        np.subtract(np.float32(lo + hi), out, out=out)
        if "MONOCHROME1 inverted to MONOCHROME2" not in notes:
            notes.append("MONOCHROME1 inverted to MONOCHROME2")
    return out


def clean_nonfinite(volume: np.ndarray, path: str, notes: list[str]) -> np.ndarray:
    """Replace NaN/±Inf in place (NaN → 0, ±Inf → finite max/min) and add a note + warning."""
    if volume.dtype.kind != "f":
        return volume
    finite = np.isfinite(volume)
    if finite.all():
        return volume
    bad = int(volume.size - np.count_nonzero(finite))
    vals = volume[finite]
    lo, hi = (float(vals.min()), float(vals.max())) if vals.size else (0.0, 0.0)
    np.nan_to_num(volume, copy=False, nan=0.0, posinf=hi, neginf=lo)
    note = f"{bad:,} NaN/Inf voxels replaced (NaN → 0, ±Inf → {lo:.4g}/{hi:.4g})"
    notes.append(note)
    log.warning("%s: %s", path, note)
    return volume
