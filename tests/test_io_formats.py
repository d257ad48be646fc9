"""read_scan on every accepted layout: DICOM series (folder, list, zip), SEG, raster images, NIfTI 4-D,
de-identification, the bundled examples and the ``info`` command."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from medgan.io import Scan, read_scan
from medgan.io.deid import PHI_KEYWORDS

ROOT = Path(__file__).resolve().parent.parent
CT = get_testdata_file("CT_small.dcm")
PHI_VALUES = ("CompressedSamples", "1CT1", "JFK", "Anonymized")  # values present in CT_small / MR_small


def _series(folder: Path, n: int = 6, step: float = 2.5, shuffle: bool = True) -> list[np.ndarray]:
    """n slices of CT_small at z = k * step (slice thickness says 5 mm), written in shuffled order."""
    folder.mkdir(parents=True, exist_ok=True)
    base = pydicom.dcmread(CT)
    series_uid = pydicom.uid.generate_uid()
    raws = []
    order = np.random.default_rng(0).permutation(n) if shuffle else np.arange(n)
    for k in range(n):
        ds = pydicom.dcmread(CT)
        raw = (base.pixel_array.astype(np.int32) + 10 * k).astype(base.pixel_array.dtype)
        raws.append(raw)
        ds.PixelData = raw.tobytes()
        ds.ImagePositionPatient = [-100.0, -100.0, 10.0 + step * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.InstanceNumber = n - k  # disagrees with geometry on purpose: geometry wins
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.save_as(folder / f"file{order[k]:03d}.dcm", enforce_file_format=True)
    return raws


def _check_series(scan: Scan, raws: list[np.ndarray], step: float = 2.5) -> None:
    ds = pydicom.dcmread(CT)
    slope, icpt = float(ds.RescaleSlope), float(ds.RescaleIntercept)
    assert scan.shape == (len(raws), 128, 128)
    for k, raw in enumerate(raws):
        np.testing.assert_allclose(scan.volume[k], raw * slope + icpt)
    assert scan.spacing[0] == pytest.approx(step)
    assert scan.affine[:3, 2] == pytest.approx([0, 0, step])
    assert scan.affine[:3, 3] == pytest.approx([-100, -100, 10])
    assert scan.modality == "CT" and scan.orientation == "LPS"


def test_series_folder_sorted_by_geometry(tmp_path: Path) -> None:
    raws = _series(tmp_path / "s")
    scan = read_scan(tmp_path / "s")
    _check_series(scan, raws)
    assert scan.metadata["files"] == "6"


def test_series_as_list_of_files(tmp_path: Path) -> None:
    raws = _series(tmp_path / "s")
    scan = read_scan(sorted((tmp_path / "s").iterdir()))
    _check_series(scan, raws)


def test_series_as_zip_with_subfolder(tmp_path: Path) -> None:
    raws = _series(tmp_path / "s")
    archive = tmp_path / "series.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in (tmp_path / "s").iterdir():
            zf.write(f, f"upload/series/{f.name}")
        zf.writestr("__MACOSX/._junk", b"junk")
    scan = read_scan(archive)
    _check_series(scan, raws)
    assert scan.source_path == str(archive)


def test_series_without_positions_uses_instance_number(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    _series(folder, n=3)
    for f in folder.iterdir():
        ds = pydicom.dcmread(f)
        del ds.ImagePositionPatient
        ds.save_as(f, enforce_file_format=True)
    scan = read_scan(folder)
    assert scan.shape[0] == 3 and any("InstanceNumber" in n for n in scan.notes)


def test_dicom_seg_label_volume() -> None:
    path = get_testdata_file("liver.dcm")
    scan = read_scan(path)
    frames = pydicom.dcmread(path).pixel_array
    assert scan.modality == "SEG" and scan.labels is not None
    assert scan.labels.shape == (3, 512, 512) and scan.volume.shape == scan.labels.shape
    assert set(np.unique(scan.labels)) <= {0, 1}
    assert int(scan.labels.sum()) == int((frames > 0).sum())
    assert scan.label_names is not None and scan.label_names[0] == "background" and len(scan.label_names) == 2


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "liver.dcm", "emri_small.dcm"])
def test_deidentified_metadata_and_template(name: str) -> None:
    path = get_testdata_file(name)
    src = pydicom.dcmread(path)
    scan = read_scan(path)
    text = repr(scan.metadata) + repr(scan.summary())
    for kw in ("PatientName", "PatientID", "PatientBirthDate", "InstitutionName", "AccessionNumber"):
        value = str(src.get(kw, "") or "")
        allowed = str(src.get("Manufacturer", "")) + str(src.get("ManufacturerModelName", ""))
        if len(value) > 2 and value not in allowed:  # e.g. InstitutionName "TOSHIBA", maker "TOSHIBA_MEC"
            assert value not in text, f"{kw} leaked into metadata"
    tpl = scan.dicom_template
    assert isinstance(tpl, pydicom.Dataset) and "PixelData" not in tpl
    for kw in PHI_KEYWORDS:
        assert not tpl.get(kw), f"{kw} present in the template"
    assert not any(elem.tag.is_private for elem in tpl)
    assert tpl.PatientIdentityRemoved == "YES"


def test_multiframe_enhanced_mr() -> None:
    scan = read_scan(get_testdata_file("emri_small.dcm"))
    assert scan.shape == (10, 64, 64) and scan.modality == "MR"
    assert scan.spacing[1:] == pytest.approx((1.0, 1.0))


@pytest.mark.parametrize("mode,dtype,bits", [("L", np.uint8, 8), ("I;16", np.uint16, 16)])
def test_png_grey(tmp_path: Path, mode: str, dtype, bits: int) -> None:
    arr = np.random.default_rng(0).integers(0, 2**bits - 1, (40, 50)).astype(dtype)
    path = tmp_path / f"g{bits}.png"
    Image.fromarray(arr).save(path)
    scan = read_scan(path)
    assert scan.shape == (1, 40, 50) and scan.source_format == "png"
    np.testing.assert_array_equal(scan.volume[0], arr.astype(np.float32))


def test_png_rgb_to_grey(tmp_path: Path) -> None:
    rgb = np.random.default_rng(1).integers(0, 255, (30, 20, 3)).astype(np.uint8)
    path = tmp_path / "c.png"
    Image.fromarray(rgb).save(path)
    scan = read_scan(path)
    np.testing.assert_allclose(scan.volume[0], rgb @ np.array([0.299, 0.587, 0.114]), atol=1e-3)
    assert any("grey" in n for n in scan.notes)


def test_jpeg(tmp_path: Path) -> None:
    arr = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (48, 1))
    path = tmp_path / "a.jpg"
    Image.fromarray(arr).save(path, quality=95)
    scan = read_scan(path)
    assert scan.shape == (1, 48, 64) and scan.source_format == "jpeg"
    assert np.abs(scan.volume[0] - arr).mean() < 3


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_tiff_multipage(tmp_path: Path, dtype) -> None:
    import tifffile

    arr = (np.random.default_rng(2).random((3, 20, 24)) * 1000).astype(dtype)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, arr)
    scan = read_scan(path)
    assert scan.shape == (3, 20, 24) and scan.source_format == "tiff"
    np.testing.assert_allclose(scan.volume, arr.astype(np.float32))


def test_tiff_rgb16(tmp_path: Path) -> None:
    import tifffile

    rgb = np.random.default_rng(3).integers(0, 65535, (16, 18, 3)).astype(np.uint16)
    path = tmp_path / "rgb16.tiff"
    tifffile.imwrite(path, rgb, photometric="rgb")
    scan = read_scan(path)
    np.testing.assert_allclose(scan.volume[0], rgb @ np.array([0.299, 0.587, 0.114]), rtol=1e-5)


def test_nifti_4d_volume_index_and_reorientation(tmp_path: Path) -> None:
    data = np.random.default_rng(4).random((5, 6, 7, 3)).astype(np.float32)
    aff = np.diag([-2.0, 3.0, 4.0, 1.0])  # LAS storage: x axis flipped
    path = tmp_path / "v.nii.gz"
    nib.save(nib.Nifti1Image(data, aff), path)
    scan = read_scan(path, volume_index=2)
    assert scan.shape == (7, 6, 5) and scan.spacing == pytest.approx((4.0, 3.0, 2.0))
    ras = data[::-1, :, :, 2]  # canonical: x increases to the right
    np.testing.assert_allclose(scan.volume, np.transpose(ras, (2, 1, 0))[:, ::-1, :])
    # world position of voxel (col=1, row=2, slice=3) agrees with the file's own affine
    i, j, k = 5 - 1 - 1, 6 - 1 - 2, 3
    np.testing.assert_allclose(scan.affine @ [1, 2, 3, 1], aff @ [i, j, k, 1])


def test_bundled_examples_load() -> None:
    files = sorted((ROOT / "assets" / "examples").glob("*.dcm"))
    assert len(files) >= 2
    assert sum(f.stat().st_size for f in files) < 2_000_000
    modalities = {read_scan(f).modality for f in files}
    assert {"CT", "MR"} <= modalities


def test_info_command(tmp_path: Path) -> None:
    env_cmd = [sys.executable, "-m", "medgan", "info", str(ROOT / "assets" / "examples" / "ct_small.dcm")]
    out = subprocess.run(env_cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "CT" in out.stdout and "1×128×128" in out.stdout
    assert "CompressedSamples" not in out.stdout
    bad = subprocess.run([sys.executable, "-m", "medgan", "info", str(tmp_path / "nope.dcm")],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert bad.returncode == 1 and "does not exist" in bad.stderr and "Traceback" not in bad.stderr


def test_nifti_ct_guess(tmp_path: Path) -> None:
    hu = np.full((8, 8, 3), -1024, np.int16)
    hu[2:6, 2:6] = 1200
    nib.save(nib.Nifti1Image(hu, np.eye(4)), tmp_path / "ct.nii.gz")
    nib.save(nib.Nifti1Image(np.abs(hu).astype(np.float32), np.eye(4)), tmp_path / "mr.nii.gz")
    assert read_scan(tmp_path / "ct.nii.gz").modality == "CT"
    assert read_scan(tmp_path / "mr.nii.gz").modality == "OT"


def test_series_plus_seg_attaches_labels(tmp_path: Path) -> None:
    """A folder (as a zip upload) holding a CT series and a DICOM SEG of one of its slices."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    folder = tmp_path / "ct_seg"
    _series(folder, n=3, shuffle=False)
    sources = [pydicom.dcmread(f) for f in sorted(folder.iterdir())]
    sources.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    mask = np.zeros((3, 128, 128), bool)
    mask[1, 30:60, 40:90] = True
    desc = hd.seg.SegmentDescription(
        segment_number=1, segment_label="Liver", segmented_property_category=codes.SCT.Organ,
        segmented_property_type=codes.SCT.Liver, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL)
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=mask, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[desc], series_instance_uid=hd.UID(), series_number=2, sop_instance_uid=hd.UID(),
        instance_number=1, manufacturer="test", manufacturer_model_name="test", software_versions="1",
        device_serial_number="1")
    seg.save_as(folder / "seg.dcm")
    alone = read_scan(folder / "seg.dcm")
    assert alone.modality == "SEG" and int(alone.labels.sum()) == int(mask.sum())
    scan = read_scan(folder)
    assert scan.modality == "CT" and scan.shape == (3, 128, 128)
    np.testing.assert_array_equal(scan.labels, mask.astype(np.uint8))
    assert scan.label_names == ("background", "Liver")
