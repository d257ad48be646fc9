"""Writers round-trip through read_scan: PNG (8/16-bit), NIfTI (affine/spacing), DICOM (synthetic, no PHI)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from medgan.io import read_scan, write_dicom, write_nifti, write_png
from medgan.io.deid import PHI_KEYWORDS

CT = get_testdata_file("CT_small.dcm")
NIB_4D = str(Path(nib.__file__).parent / "tests" / "data" / "example4d.nii.gz")


@pytest.mark.parametrize("bits", [8, 16])
def test_png_roundtrip(tmp_path: Path, bits: int) -> None:
    img = np.random.default_rng(0).random((33, 47)).astype(np.float32)
    path = write_png(tmp_path / f"x{bits}.png", img, bits=bits)
    scan = read_scan(path)
    top = 2**bits - 1
    np.testing.assert_allclose(scan.volume[0] / top, img, atol=0.5 / top + 1e-6)
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_png_labels_kept_exact(tmp_path: Path) -> None:
    lab = np.random.default_rng(1).integers(0, 4, (20, 30)).astype(np.uint8)
    write_png(tmp_path / "lab.png", lab)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "lab.png")), lab)
    with pytest.raises(ValueError):
        write_png(tmp_path / "big.png", np.array([[300]], dtype=np.int32), bits=8)


def test_nifti_roundtrip_from_nifti_source(tmp_path: Path) -> None:
    src = read_scan(NIB_4D, volume_index=1)
    out = write_nifti(tmp_path / "copy.nii.gz", src.volume, src.affine)
    back = read_scan(out)
    np.testing.assert_allclose(back.volume, src.volume, rtol=1e-6)
    np.testing.assert_allclose(back.affine, src.affine, atol=1e-5)
    assert back.spacing == pytest.approx(src.spacing)


def test_nifti_labels_roundtrip(tmp_path: Path) -> None:
    lab = np.random.default_rng(2).integers(0, 4, (5, 12, 10)).astype(np.uint8)
    aff = np.array([[0.8, 0, 0, -10], [0, -0.8, 0, 20], [0, 0, 2.5, -30], [0, 0, 0, 1]])
    out = write_nifti(tmp_path / "lab.nii", lab, aff, is_labels=True)
    assert nib.load(out).get_data_dtype() == np.uint8
    back = read_scan(out)
    np.testing.assert_array_equal(back.volume, lab)
    np.testing.assert_allclose(back.affine, aff)
    assert back.spacing == pytest.approx((2.5, 0.8, 0.8))


def test_nifti_from_png_keeps_orientation(tmp_path: Path) -> None:
    img = np.zeros((20, 30), np.float32)
    img[:5] = 1.0  # bright band at the top
    src = read_scan(write_png(tmp_path / "a.png", img, bits=16))
    back = read_scan(write_nifti(tmp_path / "a.nii.gz", src.volume, src.affine))
    np.testing.assert_allclose(back.volume, src.volume)
    assert back.volume[0, :5].min() > 0 and back.volume[0, 5:].max() == 0


def test_nifti_from_dicom_keeps_world_geometry(tmp_path: Path) -> None:
    src = read_scan(CT)
    out = write_nifti(tmp_path / "ct.nii.gz", src.volume, src.affine, orientation="LPS")
    back = read_scan(out)
    # every voxel centre maps to the same world point (LPS → RAS), with the same value
    rng = np.random.default_rng(3)
    for _ in range(20):
        c, r = rng.integers(0, 128, 2)
        world_lps = src.affine @ [c, r, 0, 1]
        world_ras = np.diag([-1, -1, 1, 1]) @ world_lps
        idx = np.linalg.solve(back.affine, world_ras)
        cb, rb, zb = np.rint(idx[:3]).astype(int)
        assert back.volume[zb, rb, cb] == src.volume[0, r, c]
    assert back.spacing == pytest.approx(src.spacing, rel=1e-5)


def _assert_synthetic_and_clean(path: Path, model: str) -> pydicom.Dataset:
    ds = pydicom.dcmread(path)
    src = pydicom.dcmread(CT)
    assert "SYNTHETIC" in ds.ImageComments and model in ds.ImageComments
    assert "SYNTHETIC" in ds.DerivationDescription and model in ds.DerivationDescription
    assert list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    assert ds.BurnedInAnnotation == "NO"
    for kw in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID"):
        assert ds.get(kw) and ds.get(kw) != src.get(kw), kw
    for kw in PHI_KEYWORDS:
        if kw == "SeriesDescription":  # replaced by the writer's own marker
            assert ds.SeriesDescription.startswith("SYNTHETIC")
            continue
        assert not ds.get(kw), f"{kw} present"
    raw = path.read_bytes()
    for value in (str(src.PatientName), str(src.PatientID)):
        assert value.encode() not in raw
    assert not any(elem.tag.is_private for elem in ds)
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    return ds


def test_dicom_roundtrip_single_slice(tmp_path: Path) -> None:
    src = read_scan(CT)
    img = np.random.default_rng(4).random((128, 128)).astype(np.float32)
    files = write_dicom(tmp_path / "syn.dcm", img, src, "spade_synthesis", "labels → CT", value_range=(-160, 240))
    assert files == [tmp_path / "syn.dcm"]
    ds = _assert_synthetic_and_clean(files[0], "spade_synthesis")
    assert ds.SOPClassUID == pydicom.uid.CTImageStorage
    back = read_scan(files[0])
    np.testing.assert_allclose(back.volume[0], img * 400 - 160, atol=400 / 4095)
    np.testing.assert_allclose(back.affine, src.affine, atol=1e-4)
    assert back.spacing[1:] == pytest.approx(src.spacing[1:])


def test_dicom_resized_output_keeps_field_of_view(tmp_path: Path) -> None:
    src = read_scan(CT)
    img = np.random.default_rng(5).random((256, 256)).astype(np.float32)
    back = read_scan(write_dicom(tmp_path / "big.dcm", img, src, "m")[0])
    assert back.spacing[1] == pytest.approx(src.spacing[1] / 2, rel=1e-4)


def test_dicom_volume_one_file_per_slice(tmp_path: Path) -> None:
    src = read_scan(CT)
    vol = np.random.default_rng(6).random((4, 128, 128)).astype(np.float32)
    files = write_dicom(tmp_path / "series", vol, src, "wgan_gp_denoise", "denoised")
    assert [f.name for f in files] == ["IM0001.dcm", "IM0002.dcm", "IM0003.dcm", "IM0004.dcm"]
    uids = {pydicom.dcmread(f).SeriesInstanceUID for f in files}
    assert len(uids) == 1
    for f in files:
        _assert_synthetic_and_clean(f, "wgan_gp_denoise")
    back = read_scan(tmp_path / "series")
    assert back.shape == (4, 128, 128)
    np.testing.assert_allclose(back.volume, np.rint(vol * 4095), atol=1e-3)
    assert back.spacing[0] == pytest.approx(src.spacing[0])


def test_dicom_without_template_is_secondary_capture(tmp_path: Path) -> None:
    src = read_scan(write_png(tmp_path / "in.png", np.full((10, 12), 0.5, np.float32)))
    out = write_dicom(tmp_path / "sc.dcm", np.full((10, 12), 0.25, np.float32), src, "pix2pix_seg", "")[0]
    ds = pydicom.dcmread(out)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7" and ds.ConversionType == "WSD"
    assert "SYNTHETIC" in ds.ImageComments
    assert read_scan(out).volume[0, 0, 0] == pytest.approx(np.rint(0.25 * 4095))


def test_failed_write_leaves_previous_file_intact(tmp_path: Path) -> None:
    target = tmp_path / "keep.png"
    write_png(target, np.zeros((4, 4), np.float32))
    before = target.read_bytes()
    with pytest.raises(ValueError):
        write_png(target, np.zeros((4, 4, 4, 4), np.float32))
    with pytest.raises(ValueError):
        write_nifti(tmp_path / "bad.txt", np.zeros((2, 2, 2)), np.eye(4))
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]
