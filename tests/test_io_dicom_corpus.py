"""Every DICOM file in pydicom's test data and in pydicom-data either loads exactly as pydicom decodes it
(shape and rescaled values) or fails with a readable ScanError; the same for nibabel's NIfTI test files."""

from __future__ import annotations

import glob
import os
import warnings

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_files

from medgan.io import ScanError, read_scan

PYDICOM_DIR = os.path.dirname(pydicom.__file__)
DATA_STORE = os.path.join(os.path.dirname(PYDICOM_DIR), "data_store", "data")
NIBABEL_DATA = os.path.join(os.path.dirname(__import__("nibabel").__file__), "tests", "data")


def _corpus() -> list[str]:
    files = {os.path.realpath(f) for f in get_testdata_files()}
    files |= {os.path.realpath(f) for f in glob.glob(os.path.join(DATA_STORE, "*"))}
    return sorted(f for f in files if os.path.isfile(f))


CORPUS = _corpus()
LUMA = np.array([0.299, 0.587, 0.114])


def _frame_rescale(ds) -> list[tuple[float, float]] | None:
    """Enhanced-IOD rescale per frame, read straight from the functional groups."""
    shared = ds.get("SharedFunctionalGroupsSequence")
    per = ds.get("PerFrameFunctionalGroupsSequence")
    n = int(ds.get("NumberOfFrames", 1) or 1)
    base = None
    if shared and shared[0].get("PixelValueTransformationSequence"):
        base = shared[0].PixelValueTransformationSequence[0]
    out, found = [], base is not None
    for i in range(n):
        item = base
        if per and i < len(per) and per[i].get("PixelValueTransformationSequence"):
            item, found = per[i].PixelValueTransformationSequence[0], True
        out.append((float(item.RescaleSlope), float(item.RescaleIntercept)) if item is not None else (1.0, 0.0))
    return out if found else None


def _frame_order(ds, nframes: int) -> np.ndarray:
    per = ds.get("PerFrameFunctionalGroupsSequence")
    if not per or len(per) != nframes or nframes < 2:
        return np.arange(nframes)
    try:
        pos = np.array([[float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient] for f in per])
        iop = None
        shared = ds.get("SharedFunctionalGroupsSequence")
        if shared and shared[0].get("PlaneOrientationSequence"):
            iop = shared[0].PlaneOrientationSequence[0].ImageOrientationPatient
        elif per[0].get("PlaneOrientationSequence"):
            iop = per[0].PlaneOrientationSequence[0].ImageOrientationPatient
        iop = np.array([float(v) for v in iop]) if iop is not None else np.array([1, 0, 0, 0, 1, 0.0])
    except (AttributeError, TypeError, ValueError, IndexError):
        return np.arange(nframes)
    normal = np.cross(iop[:3], iop[3:])
    return np.argsort(pos @ normal, kind="stable")


def _reference(path: str) -> np.ndarray | None:
    """pydicom's own decode → rescaled grey (F, H, W) float64, or None when pydicom cannot decode it."""
    from pydicom.pixels import apply_color_lut, apply_rescale, pixel_array

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, force=True)
            if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
                return None
            meta = getattr(ds, "file_meta", None)
            if meta is None or "TransferSyntaxUID" not in meta:
                implicit, little = ds.original_encoding
                ds.file_meta = meta or pydicom.dataset.FileMetaDataset()
                ds.file_meta.TransferSyntaxUID = (pydicom.uid.ImplicitVRLittleEndian if implicit else
                                                  pydicom.uid.ExplicitVRLittleEndian if little
                                                  else pydicom.uid.ExplicitVRBigEndian)
            pi = str(ds.get("PhotometricInterpretation", "")).strip()
            spp = int(ds.get("SamplesPerPixel", 1) or 1)
            kwargs = {}
            if str(ds.file_meta.TransferSyntaxUID) == "1.2.840.10008.1.2.4.50":  # lossy: decoders differ
                try:
                    pixel_array(ds, decoding_plugin="pillow", index=0)
                    kwargs["decoding_plugin"] = "pillow"  # the decoder read_scan prefers
                except Exception:  # noqa: BLE001
                    pass
            if spp == 3 and pi in ("YBR_FULL", "YBR_FULL_422"):
                arr = pixel_array(ds, as_rgb=False, **kwargs)[..., 0].astype(np.float32)
            else:
                arr = pixel_array(ds, **kwargs)
                if pi == "PALETTE COLOR":
                    arr = apply_color_lut(arr, ds)
                    spp = 3
                if spp > 1:
                    arr = arr[..., :3].astype(np.float64) @ LUMA
                else:
                    per_frame = _frame_rescale(ds)
                    if per_frame is not None:
                        arr = arr.astype(np.float64).reshape((-1,) + arr.shape[-2:])
                        arr = np.stack([a * s + i for a, (s, i) in zip(arr, per_frame)])
                    else:
                        arr = apply_rescale(arr, ds).astype(np.float64)
    except Exception:  # noqa: BLE001 - pydicom itself cannot decode this file
        return None
    n = int(ds.get("NumberOfFrames", 1) or 1)
    arr = arr.reshape((-1,) + arr.shape[-2:]) if arr.ndim >= 2 else arr
    if pi == "MONOCHROME1":
        arr = arr.min() + arr.max() - arr
    return arr[_frame_order(ds, n)] if arr.shape[0] == n else arr


def _is_seg(path: str) -> bool:
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except Exception:  # noqa: BLE001
        return False
    return str(ds.get("SOPClassUID", "")) == "1.2.840.10008.5.1.4.1.1.66.4"


def _readable_error(exc: ScanError, path: str) -> None:
    msg = str(exc)
    assert path in msg, f"message does not name the file: {msg}"
    assert "accepted:" in msg, f"message does not say what is accepted: {msg}"
    assert "Traceback" not in msg and len(msg) < 2000


@pytest.mark.timeout(60)
@pytest.mark.parametrize("path", CORPUS, ids=[os.path.relpath(p, os.path.dirname(PYDICOM_DIR)) for p in CORPUS])
def test_pydicom_corpus_file(path: str) -> None:
    ref = _reference(path)
    try:
        scan = read_scan(path)
    except ScanError as exc:
        _readable_error(exc, path)
        assert ref is None or _is_seg(path), f"pydicom decodes this file but read_scan refused it: {exc}"
        return
    assert scan.volume.dtype == np.float32 and scan.volume.ndim == 3
    assert np.isfinite(scan.volume).all()
    assert "PatientName" not in scan.metadata and "PatientID" not in scan.metadata
    if scan.modality == "SEG":
        frames = pydicom.dcmread(path).pixel_array
        assert scan.labels is not None and scan.labels.dtype.kind == "u"
        assert int((scan.labels > 0).sum()) <= int((frames > 0).sum())
        assert scan.labels.shape[1:] == frames.shape[-2:]
        assert scan.label_names is not None and scan.label_names[0] == "background"
        return
    assert ref is not None, "read_scan loaded a file that pydicom cannot decode"
    assert scan.volume.shape == ref.shape
    ref32 = ref.astype(np.float32)
    tol = 1e-3 * max(1.0, float(np.abs(ref32).max()))
    err = np.abs(scan.volume - ref32)
    worst = np.unravel_index(int(np.argmax(err)), err.shape)
    assert err[worst] <= tol, f"voxel {worst}: read_scan {scan.volume[worst]} vs pydicom {ref32[worst]} (tol {tol})"


NIFTI = sorted(glob.glob(os.path.join(NIBABEL_DATA, "*.nii*")))


@pytest.mark.parametrize("path", NIFTI, ids=[os.path.basename(p) for p in NIFTI])
def test_nibabel_nifti_file(path: str) -> None:
    import nibabel as nib

    try:
        scan = read_scan(path)
    except ScanError as exc:
        _readable_error(exc, path)
        img = nib.load(path)
        assert not hasattr(img, "affine") or len(img.shape) > 4, f"nibabel reads this volume: {exc}"
        return
    img = nib.as_closest_canonical(nib.load(path))
    data = np.asarray(img.dataobj, dtype=np.float64)
    if data.ndim == 4:
        data = data[..., 0]
    expected = np.transpose(data, (2, 1, 0))[:, ::-1, :]
    assert scan.volume.shape == expected.shape
    finite = np.isfinite(expected)
    np.testing.assert_allclose(scan.volume[finite], expected[finite], rtol=1e-5, atol=1e-4)
    if not finite.all():
        assert any("NaN" in n for n in scan.notes)
    # The display affine maps voxel (col, row, slice) to the same world point as nibabel's canonical affine.
    z, r, c = (s - 1 for s in scan.volume.shape)
    world = scan.affine @ np.array([c, r, z, 1.0])
    ijk = np.array([c, expected.shape[1] - 1 - r, z, 1.0])
    np.testing.assert_allclose(world, img.affine @ ijk, atol=1e-4)
    assert scan.spacing == pytest.approx(tuple(float(v) for v in img.header.get_zooms()[:3][::-1]), rel=1e-4)


# One file per transfer syntax / photometric the issue requires; these must load (decoder plugins present).
MUST_LOAD = {
    "JPGExtended.dcm": "JPEG extended (8-bit)",
    "SC_rgb_jpeg_dcmtk.dcm": "JPEG baseline, YBR_FULL",
    "JPEG-LL.dcm": "JPEG lossless",
    "emri_small_jpeg_ls_lossless.dcm": "JPEG-LS lossless",
    "JPEGLSNearLossless_16.dcm": "JPEG-LS near-lossless, 16-bit",
    "MR_small_jp2klossless.dcm": "JPEG 2000 lossless",
    "693_J2KI.dcm": "JPEG 2000 lossy",
    "MR_small_RLE.dcm": "RLE lossless",
    "image_dfl.dcm": "deflated explicit VR little endian",
    "MR_small_bigendian.dcm": "explicit VR big endian",
    "RG1_UNCI.dcm": "MONOCHROME1",
    "SC_rgb_16bit.dcm": "16-bit RGB",
    "US1_UNCR.dcm": "ultrasound RGB",
    "OT-PAL-8-face.dcm": "palette colour, no transfer syntax in meta",
    "CT_small.dcm": "signed 16-bit CT with rescale",
}


@pytest.mark.parametrize("name", sorted(MUST_LOAD), ids=[f"{k} ({v})" for k, v in sorted(MUST_LOAD.items())])
def test_required_syntax_loads(name: str) -> None:
    from pydicom.data import get_testdata_file

    scan = read_scan(get_testdata_file(name))
    assert scan.volume.size > 0 and np.isfinite(scan.volume).all()
    ds = pydicom.dcmread(get_testdata_file(name), stop_before_pixels=True, force=True)
    if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        assert any("MONOCHROME1" in n for n in scan.notes)
    if int(ds.get("SamplesPerPixel", 1)) == 3 or str(ds.get("PhotometricInterpretation", "")) == "PALETTE COLOR":
        assert any("grey" in n for n in scan.notes)
