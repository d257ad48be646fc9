"""Malformed and hostile inputs give a ScanError that names the file, quickly, without decoding first."""

from __future__ import annotations

import gzip
import io
import os
import struct
import time
import zipfile
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from medgan.io import ReadLimits, ScanError, read_scan

CT = get_testdata_file("CT_small.dcm")
MR = get_testdata_file("MR_small.dcm")


def _expect_error(target, *fragments: str, **kwargs) -> str:
    start = time.monotonic()
    with pytest.raises(ScanError) as info:
        read_scan(target, **kwargs)
    elapsed = time.monotonic() - start
    msg = str(info.value)
    name = target if isinstance(target, (str, Path)) else target[0]
    assert str(name) in msg or os.path.dirname(str(name)) in msg, msg
    assert "accepted:" in msg, msg
    for frag in fragments:
        assert frag.lower() in msg.lower(), f"{frag!r} not in {msg!r}"
    assert elapsed < 30, f"took {elapsed:.1f} s"  # a hang guard, not a speed target
    return msg


def _modified_ct(tmp_path: Path, name: str, **changes) -> Path:
    ds = pydicom.dcmread(CT)
    for k, v in changes.items():
        setattr(ds, k, v)
    out = tmp_path / name
    ds.save_as(out, enforce_file_format=True)
    return out


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.9, 0.99])
def test_truncated_dicom(tmp_path: Path, cut: float) -> None:
    raw = Path(CT).read_bytes()
    path = tmp_path / f"cut{cut}.dcm"
    path.write_bytes(raw[: int(len(raw) * cut)])
    _expect_error(path)


def test_zero_bytes(tmp_path: Path) -> None:
    path = tmp_path / "empty.dcm"
    path.write_bytes(b"")
    _expect_error(path, "empty")


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("suffix", [".dcm", ".nii", ".png", ".bin"])
def test_random_bytes(tmp_path: Path, seed: int, suffix: str) -> None:
    path = tmp_path / f"random{seed}{suffix}"
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    _expect_error(path)


@pytest.mark.parametrize("payload", [b"hello, this is a text file and not a scan\n" * 20,
                                     np.random.default_rng(5).integers(0, 256, 3000, dtype=np.uint8).tobytes()])
def test_non_dicom_bytes_named_dcm_say_not_dicom(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "scan.dcm"
    path.write_bytes(payload)
    _expect_error(path, "is not a DICOM file")


def test_random_bytes_after_dicom_preamble(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    path = tmp_path / "fake.dcm"
    path.write_bytes(b"\0" * 128 + b"DICM" + rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    _expect_error(path)


def test_huge_declared_dimensions_refused_before_decoding(tmp_path: Path, monkeypatch) -> None:
    import pydicom.pixels

    def boom(*_a, **_k):
        raise AssertionError("decoder called before the size check")

    monkeypatch.setattr(pydicom.pixels, "pixel_array", boom)
    path = _modified_ct(tmp_path, "huge.dcm", Rows=60000, Columns=60000, NumberOfFrames=500)
    _expect_error(path, "exceeds the limit")


def test_declared_dims_disagree_with_data(tmp_path: Path) -> None:
    path = _modified_ct(tmp_path, "wrongdims.dcm", Rows=256)
    _expect_error(path, "truncated or smaller than declared")


def test_configurable_limits(tmp_path: Path) -> None:
    _expect_error(CT, "voxels", limits=ReadLimits(max_voxels=1000))
    _expect_error(CT, "decompressed bytes", limits=ReadLimits(max_decompressed_bytes=1000))
    assert read_scan(CT, limits=ReadLimits(max_voxels=128 * 128)).shape == (1, 128, 128)


def _nested_sequence(depth: int) -> bytes:
    opening = b""
    for _ in range(depth):
        opening += struct.pack("<HH", 0x0008, 0x1115) + b"SQ\0\0" + struct.pack("<I", 0xFFFFFFFF)
        opening += struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
    closing = (struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)) * depth
    return opening + closing


def test_deeply_nested_sequences(tmp_path: Path) -> None:
    raw = Path(CT).read_bytes()
    meta_end = 132 + 12 + int(pydicom.dcmread(CT).file_meta.FileMetaInformationGroupLength)
    path = tmp_path / "nested.dcm"
    path.write_bytes(raw[:meta_end] + _nested_sequence(5000) + raw[meta_end:])
    _expect_error(path, "nested")


def test_no_pixel_data_and_non_image_sop(tmp_path: Path) -> None:
    _expect_error(get_testdata_file("rtstruct.dcm"), "RT Structure Set", "not an image")
    _expect_error(get_testdata_file("test-SR.dcm"), "SR", "not an image")
    ds = pydicom.dcmread(CT)
    del ds.PixelData
    path = tmp_path / "nopixels.dcm"
    ds.save_as(path, enforce_file_format=True)
    _expect_error(path, "no pixel data")


def test_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "notes.xyz"
    path.write_text("hello, this is not a scan\n" * 20)
    _expect_error(path, "not a recognised image format")
    _expect_error(tmp_path / "missing.dcm", "does not exist")


def test_empty_folder_and_unreadable_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    _expect_error(tmp_path / "empty", "empty folder")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.bin").write_bytes(b"\x01\x02" * 100)
    _expect_error(tmp_path / "junk", "no readable image")


def test_mixed_series_folder(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name, src in (("ct.dcm", CT), ("mr.dcm", MR)):
        (folder / name).write_bytes(Path(src).read_bytes())
    _expect_error(folder, "different series")


def test_series_with_different_sizes(tmp_path: Path) -> None:
    folder = tmp_path / "sizes"
    folder.mkdir()
    ds = pydicom.dcmread(CT)
    ds.save_as(folder / "a.dcm", enforce_file_format=True)
    small = ds.pixel_array[:64, :64].copy()
    ds.Rows, ds.Columns = 64, 64
    ds.PixelData = small.tobytes()
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(folder / "b.dcm", enforce_file_format=True)
    _expect_error(folder, "different sizes")


def test_nan_and_inf_voxels_replaced_with_note(tmp_path: Path, caplog) -> None:
    data = np.ones((4, 5, 6), dtype=np.float32)
    data[0, 0, 0], data[1, 1, 1], data[2, 2, 2] = np.nan, np.inf, -np.inf
    path = tmp_path / "nan.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    with caplog.at_level("WARNING"):
        scan = read_scan(path)
    assert np.isfinite(scan.volume).all()
    assert any("3 NaN/Inf voxels replaced" in n for n in scan.notes)
    assert any("NaN/Inf" in r.getMessage() for r in caplog.records)


def _nifti_header_bytes(shape: tuple[int, ...]) -> bytes:
    hdr = nib.Nifti1Header()
    hdr.set_data_shape(shape)
    hdr.set_data_dtype(np.float32)
    buf = io.BytesIO()
    hdr.write_to(buf)
    return buf.getvalue() + b"\0" * (352 - len(buf.getvalue()))


def test_nifti_huge_declared_dims(tmp_path: Path) -> None:
    path = tmp_path / "huge.nii"
    path.write_bytes(_nifti_header_bytes((30000, 30000, 30000)) + b"\0" * 1000)
    _expect_error(path, "exceeds the limit")


def test_nifti_truncated(tmp_path: Path) -> None:
    path = tmp_path / "short.nii"
    path.write_bytes(_nifti_header_bytes((64, 64, 64)) + b"\0" * 1000)
    _expect_error(path, "truncated")
    gz = tmp_path / "short.nii.gz"
    gz.write_bytes(gzip.compress(_nifti_header_bytes((64, 64, 64)) + b"\0" * 1000))
    _expect_error(gz, "truncated")


def test_nifti_volume_index_out_of_range(tmp_path: Path) -> None:
    path = tmp_path / "four.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4, 3), np.float32), np.eye(4)), path)
    _expect_error(path, "holds 3 volume", volume_index=3)


def _png_with_ihdr(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    idat_data = zlib.compress(b"\0" * 100)
    idat = struct.pack(">I", len(idat_data)) + b"IDAT" + idat_data + struct.pack(">I", zlib.crc32(b"IDAT" + idat_data))
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + chunk + idat + end


def test_png_huge_declared_dims(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    path.write_bytes(_png_with_ihdr(100_000, 100_000))
    _expect_error(path, "exceeds the limit")


def test_png_truncated(tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "ok.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(path)
    cut = tmp_path / "cut.png"
    cut.write_bytes(path.read_bytes()[:200])
    _expect_error(cut)


def test_zip_path_traversal_and_bomb(tmp_path: Path) -> None:
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../escape.dcm", Path(CT).read_bytes())
    _expect_error(evil, "path traversal")
    assert not (tmp_path.parent / "escape.dcm").exists()
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.dcm", b"\0" * 50_000_000)
    _expect_error(bomb, "zip bomb")
    _expect_error(bomb, "over the limit", limits=ReadLimits(max_archive_bytes=1_000_000))
    notzip = tmp_path / "broken.zip"
    notzip.write_bytes(b"PK\x03\x04" + b"\0" * 50)
    _expect_error(notzip, "zip")


FUZZ_FILES = ["CT_small.dcm", "MR_small_jp2klossless.dcm", "MR_small_RLE.dcm", "emri_small_jpeg_ls_lossless.dcm",
              "JPGExtended.dcm", "SC_rgb_jpeg_dcmtk.dcm", "image_dfl.dcm", "liver.dcm", "SC_rgb_rle_2frame.dcm"]


@pytest.mark.parametrize("name", FUZZ_FILES)
def test_corrupted_variants_only_raise_scan_error(tmp_path: Path, name: str) -> None:
    """Truncations and random byte flips (header-heavy) of real files: a Scan or a ScanError, nothing else."""
    raw = Path(get_testdata_file(name)).read_bytes()
    rng = np.random.default_rng(sum(name.encode()))
    variants = [raw[: int(len(raw) * c)] for c in (0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95, 0.999)]
    for _ in range(40):
        b = bytearray(raw)
        for _ in range(int(rng.integers(1, 20))):
            hi = min(len(b), 3000) if rng.random() < 0.7 else len(b)
            b[int(rng.integers(0, hi))] = int(rng.integers(0, 256))
        variants.append(bytes(b))
    path = tmp_path / "variant.dcm"
    for v in variants:
        path.write_bytes(v)
        try:
            scan = read_scan(path)
        except ScanError as exc:
            assert str(path) in str(exc)
            continue
        assert scan.volume.ndim == 3 and np.isfinite(scan.volume).all()
