"""Folder datasets: PNG pairs, ACDC-style NIfTI pairs, DICOM series + label NIfTI; clear DataErrors."""

from __future__ import annotations

import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from medgan.data.folders import DataError, extract_zip_safely, find_cases, load_folder, validate_folder
from medgan.io import read_scan, write_nifti

CT = get_testdata_file("CT_small.dcm")


def _disc(h: int, w: int, r: float, value: int = 1) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return ((yy - h / 2) ** 2 + (xx - w / 2) ** 2 < r**2).astype(np.uint8) * value


def _png_pairs(root: Path, n: int = 3, shape=(40, 60), binary255: bool = False) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        img = rng.integers(0, 255, shape).astype(np.uint8)
        mask = _disc(*shape, 10 + i, 255 if binary255 else 1 + i % 3)
        Image.fromarray(img).save(root / "images" / f"case{i}.png")
        Image.fromarray(mask).save(root / "masks" / f"case{i}.png")
    return root


def _acdc(root: Path, patients: int = 2) -> Path:
    rng = np.random.default_rng(1)
    aff = np.diag([1.5, 1.5, 10.0, 1.0])
    for p in range(1, patients + 1):
        d = root / f"patient{p:03d}"
        d.mkdir(parents=True)
        nib.save(nib.Nifti1Image(rng.random((30, 40, 5, 3)).astype(np.float32), aff), d / f"patient{p:03d}_4d.nii.gz")
        for frame in (1, 12):
            img = (rng.random((30, 40, 5)) * 500).astype(np.float32)
            lab = np.zeros((30, 40, 5), np.uint8)
            lab[5:15, 10:30, 1:4] = 1
            lab[8:12, 15:25, 2] = 3
            nib.save(nib.Nifti1Image(img, aff), d / f"patient{p:03d}_frame{frame:02d}.nii.gz")
            nib.save(nib.Nifti1Image(lab, aff), d / f"patient{p:03d}_frame{frame:02d}_gt.nii.gz")
    return root


def test_png_pairs_load(tmp_path: Path) -> None:
    root = _png_pairs(tmp_path / "ds")
    report = validate_folder(root, num_classes=4)
    assert report.layout == "png" and len(report.cases) == 3 and report.num_slices == 3
    assert report.label_values == (0, 1, 2, 3)
    images, labels = load_folder(root, size=64)
    assert images.shape == (3, 64, 64) and images.dtype == np.float32
    assert labels.shape == (3, 64, 64) and labels.dtype == np.uint8
    assert 0 <= images.min() and images.max() <= 1
    assert set(np.unique(labels)) == {0, 1, 2, 3}


def test_binary_255_masks_become_0_1(tmp_path: Path) -> None:
    root = _png_pairs(tmp_path / "ds", binary255=True)
    report = validate_folder(root, num_classes=2)
    assert report.label_values == (0, 1) and any("0/255" in w for w in report.warnings)


def test_acdc_layout(tmp_path: Path) -> None:
    root = _acdc(tmp_path / "acdc")
    layout, _, cases = find_cases(root)
    assert layout == "acdc" and len(cases) == 4  # _4d files ignored
    report = validate_folder(root, num_classes=4, min_cases=4)
    assert report.num_slices == 4 * 3 and report.label_values == (0, 1, 3)
    images, labels = load_folder(root, size=48)
    assert images.shape == (12, 48, 48) and labels.shape == (12, 48, 48)
    assert labels.max() == 3 and (labels > 0).any(axis=(1, 2)).all()


def test_acdc_zip_with_wrapper_folder(tmp_path: Path) -> None:
    root = _acdc(tmp_path / "acdc", patients=1)
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in root.rglob("*.nii.gz"):
            zf.write(f, f"training/{f.relative_to(root)}")
    data_root = extract_zip_safely(archive, tmp_path / "x")
    assert data_root.name == "patient001" or data_root.name == "training"
    assert validate_folder(data_root).layout == "acdc"


def test_dicom_series_with_label_nifti(tmp_path: Path) -> None:
    case = tmp_path / "dicomds" / "case1"
    case.mkdir(parents=True)
    uid = pydicom.uid.generate_uid()
    for k in range(4):
        ds = pydicom.dcmread(CT)
        ds.ImagePositionPatient = [-50.0, -60.0, 5.0 * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.SeriesInstanceUID, ds.SOPInstanceUID = uid, pydicom.uid.generate_uid()
        ds.save_as(case / f"s{k}.dcm", enforce_file_format=True)
    scan = read_scan(case)
    lab = np.zeros(scan.shape, np.uint8)
    lab[1:3, 20:60, 30:90] = 2
    write_nifti(case / "labels.nii.gz", lab, scan.affine, is_labels=True, orientation="LPS")
    report = validate_folder(tmp_path / "dicomds", num_classes=3)
    assert report.layout == "dicom" and report.num_slices == 2
    images, labels = load_folder(tmp_path / "dicomds", size=128)
    assert images.shape == (2, 128, 128)
    np.testing.assert_array_equal(labels, lab[1:3])  # resampled back exactly onto the DICOM grid


@pytest.mark.parametrize(
    "problem,fragment",
    [
        ("missing_mask", "have no mask"),
        ("orphan_mask", "have no image"),
        ("size", "sizes must match"),
        ("values", "not valid for 4 classes"),
        ("rgb_mask", "colour image"),
        ("few", "at least 5 are needed"),
        ("no_partner", "partner folder"),
        ("empty", "no image/label pairs"),
        ("float_mask", "non-integer"),
    ],
)
def test_validation_messages(tmp_path: Path, problem: str, fragment: str) -> None:
    root = tmp_path / "ds"
    if problem == "empty":
        root.mkdir()
    elif problem == "float_mask":
        root.mkdir()
        nib.save(nib.Nifti1Image(np.zeros((4, 4, 2), np.float32), np.eye(4)), root / "p_frame01.nii.gz")
        nib.save(nib.Nifti1Image(np.full((4, 4, 2), 0.5, np.float32), np.eye(4)), root / "p_frame01_gt.nii.gz")
    else:
        _png_pairs(root)
    if problem == "missing_mask":
        (root / "masks" / "case1.png").unlink()
    elif problem == "orphan_mask":
        (root / "images" / "case1.png").unlink()
    elif problem == "size":
        Image.fromarray(np.zeros((20, 20), np.uint8)).save(root / "masks" / "case2.png")
    elif problem == "values":
        Image.fromarray(_disc(40, 60, 8, 7)).save(root / "masks" / "case0.png")
    elif problem == "rgb_mask":
        Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(root / "masks" / "case0.png")
    elif problem == "no_partner":
        import shutil

        shutil.rmtree(root / "masks")
    with pytest.raises(DataError) as info:
        validate_folder(root, num_classes=4, min_cases=5 if problem == "few" else 1)
    assert fragment in str(info.value), str(info.value)
    assert isinstance(info.value, ValueError)


def test_zip_traversal_and_bomb_rejected(tmp_path: Path) -> None:
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("images/../../../outside.png", b"x")
    with pytest.raises(DataError, match="path traversal"):
        extract_zip_safely(evil, tmp_path / "out")
    assert not (tmp_path / "outside.png").exists()
    absolute = tmp_path / "abs.zip"
    with zipfile.ZipFile(absolute, "w") as zf:
        zf.writestr("/etc/evil.png", b"x")
    with pytest.raises(DataError, match="path traversal"):
        extract_zip_safely(absolute, tmp_path / "out2")
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("images/a.png", b"\0" * 20_000_000)
    with pytest.raises(DataError, match="zip bomb"):
        extract_zip_safely(bomb, tmp_path / "out3")
