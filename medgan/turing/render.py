"""Canonical rendering of Turing-test cases.

Every case, real or generated, goes through the same steps: float image in [0, 1] → clip → resize to
``CANONICAL_SIZE`` × ``CANONICAL_SIZE`` (bilinear, the same call for every source) → 8-bit grey → PNG written by
:func:`encode_png`. The PNG encoder is fixed and minimal: signature, IHDR, one IDAT, IEND (no ancillary chunks,
no metadata, no gamma, no timestamps), filter type 0 on every row and zlib level 0 (stored blocks). With stored
blocks the compressed size depends only on the image dimensions, so every case file has exactly the same byte
length and layout; only pixel bytes differ. File size, dimensions, colour type and chunk sequence therefore carry
no information about the source.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

CANONICAL_SIZE = 256
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def canonical_pixels(image: np.ndarray, size: int = CANONICAL_SIZE) -> np.ndarray:
    """image: float (H, W) (or (1, H, W)) in [0, 1] → uint8 (size, size), the only pixels ever served.

    NaN/inf become 0; values are clipped to [0, 1]; non-square inputs are centre-padded with 0 to a square first.
    """
    arr = np.asarray(image, dtype=np.float32)
    arr = np.squeeze(arr)
    if arr.ndim != 2:
        raise ValueError(f"a case image must be 2-D (H, W); got shape {np.shape(image)}")
    if arr.shape[0] < 8 or arr.shape[1] < 8:
        raise ValueError(f"a case image must be at least 8×8 pixels; got {arr.shape}")
    arr = np.nan_to_num(arr, nan=0.0, posinf=1.0, neginf=0.0)
    arr = np.clip(arr, 0.0, 1.0)
    h, w = arr.shape
    if h != w:
        side = max(h, w)
        sq = np.zeros((side, side), dtype=np.float32)
        sq[(side - h) // 2 : (side - h) // 2 + h, (side - w) // 2 : (side - w) // 2 + w] = arr
        arr = sq
    if arr.shape[0] != size:
        from PIL import Image

        arr = np.asarray(Image.fromarray(arr, mode="F").resize((size, size), Image.Resampling.BILINEAR))
        arr = np.clip(arr, 0.0, 1.0)
    return np.round(arr * 255.0).astype(np.uint8)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(pixels: np.ndarray) -> bytes:
    """uint8 (H, W) grey → PNG bytes (IHDR, IDAT, IEND only; filter 0; zlib level 0)."""
    px = np.ascontiguousarray(pixels)
    if px.dtype != np.uint8 or px.ndim != 2:
        raise ValueError(f"encode_png expects uint8 (H, W); got {px.dtype} {px.shape}")
    h, w = px.shape
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)  # 8-bit, greyscale, deflate, filter 0, no interlace
    raw = np.zeros((h, w + 1), dtype=np.uint8)
    raw[:, 1:] = px
    idat = zlib.compress(raw.tobytes(), 0)
    return PNG_SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def render_case(image: np.ndarray, size: int = CANONICAL_SIZE) -> bytes:
    """float (H, W) in [0, 1] → canonical PNG bytes."""
    return encode_png(canonical_pixels(image, size))


def png_chunks(data: bytes) -> list[tuple[bytes, int]]:
    """List of (chunk type, length) in a PNG file (for blinding checks)."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG file")
    out: list[tuple[bytes, int]] = []
    pos = len(PNG_SIGNATURE)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        out.append((kind, length))
        pos += 12 + length
    return out


def generator_output_to_unit(image: np.ndarray) -> np.ndarray:
    """Generator channel 0 in [-1, 1] → [0, 1] (the same mapping the tasks use)."""
    return (np.asarray(image, dtype=np.float32) + 1.0) / 2.0
