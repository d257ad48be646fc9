"""DICOM → Scan: single/multi-frame files, series (folder or file list), DICOM SEG label volumes."""

from __future__ import annotations

import logging
import os
import warnings
from collections import defaultdict

import numpy as np

from medgan.io.deid import summary_metadata, template_from
from medgan.io.dicom_geometry import (
    dicom_vector,
    frame_positions,
    geometry,
    make_affine,
    normal_of,
    slice_geometry,
)
from medgan.io.dicom_pixels import (
    SEG_SOP_CLASS,
    check_header,
    clean_nonfinite,
    decode,
    fail,
    pixel_keyword,
    sop_name,
)
from medgan.io.dicom_seg import read_seg
from medgan.io.limits import ReadLimits, human_bytes
from medgan.io.scan import Scan, ScanError

log = logging.getLogger(__name__)

DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"


def load_dataset(path: str, limits: ReadLimits) -> object:
    """dcmread with every parser failure turned into a ScanError (pixel data kept, not decoded)."""
    from pydicom import dcmread

    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise fail(path, f"cannot be opened ({exc.strerror})") from exc
    if size > limits.max_file_bytes:
        raise fail(path, f"file of {human_bytes(size)} exceeds the limit of {human_bytes(limits.max_file_bytes)}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = dcmread(path, force=True)
            _ensure_transfer_syntax(ds)
    except RecursionError as exc:
        raise fail(path, "DICOM sequences are nested too deeply (malformed or hostile file)") from exc
    except MemoryError as exc:
        raise fail(path, "header declares more data than fits in memory") from exc
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types on malformed files
        raise fail(path, f"is not a readable DICOM file or is truncated ({type(exc).__name__}: "
                         f"{str(exc)[:200]})") from exc
    if not _looks_like_dicom(path, ds):
        raise fail(path, "is not a DICOM file (no 'DICM' marker and no DICOM header elements found)")
    return ds


def _looks_like_dicom(path: str, ds: object) -> bool:
    """True for a file with the 'DICM' preamble marker, or a preamble-less file whose parsed header names an
    object (SOP class, modality or image dimensions); random bytes parsed with ``force=True`` have none."""
    try:
        with open(path, "rb") as f:
            f.seek(128)
            if f.read(4) == b"DICM":
                return True
    except OSError:
        return False
    return any(ds.get(k) not in (None, "") for k in ("SOPClassUID", "Modality", "Rows"))  # type: ignore[attr-defined]


def _ensure_transfer_syntax(ds: object) -> None:
    """Files without a File Meta Transfer Syntax: record the encoding the dataset was actually read with."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    meta = getattr(ds, "file_meta", None)
    if meta is not None and meta.get("TransferSyntaxUID"):
        return
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit is None:
        return
    if meta is None:
        meta = FileMetaDataset()
        ds.file_meta = meta  # type: ignore[attr-defined]
    meta.TransferSyntaxUID = (ImplicitVRLittleEndian if implicit else
                              ExplicitVRLittleEndian if little else ExplicitVRBigEndian)


def _scan(volume: np.ndarray, ds: object, path: str, notes: list[str], iop: np.ndarray | None,
          spacing_rc: tuple[float, float], dz: float, step: np.ndarray, origin: np.ndarray | None,
          nfiles: int, float_pixels: bool = False) -> Scan:
    if float_pixels:  # integer pixel data times a finite slope cannot produce NaN/Inf
        volume = clean_nonfinite(volume, path, notes)
    meta = summary_metadata(ds)
    if nfiles > 1:
        meta["files"] = str(nfiles)
    return Scan(
        volume=volume, spacing=(float(dz), spacing_rc[0], spacing_rc[1]),
        affine=make_affine(iop, spacing_rc, origin, step), orientation="LPS",
        modality=str(ds.get("Modality", "") or "OT").strip().upper() or "OT",  # type: ignore[attr-defined]
        source_format="dicom", metadata=meta, notes=notes, source_path=path, dicom_template=template_from(ds),
    )


def read_dicom_file(path: str, limits: ReadLimits, ds: object | None = None) -> Scan:
    """One DICOM file (single- or multi-frame; SEG → labels) as a Scan."""
    ds = load_dataset(path, limits) if ds is None else ds
    if str(ds.get("SOPClassUID", "")) == SEG_SOP_CLASS:  # type: ignore[attr-defined]

        return read_seg(ds, path, limits)
    try:
        frames, _, _ = check_header(ds, path, limits)
        notes: list[str] = []
        volume = decode(ds, path, notes)
        iop, spacing_rc, dz = geometry(ds)
        positions = frame_positions(ds, volume.shape[0])
    except ScanError:
        raise
    except Exception as exc:  # noqa: BLE001 - malformed header values
        raise fail(path, f"DICOM header is malformed ({type(exc).__name__}: {str(exc)[:200]})") from exc
    proj = np.array([float(p @ normal_of(iop)) for p in positions]) if positions else np.zeros(0)
    if positions and len(positions) > 1:
        order = np.argsort(proj, kind="stable")
        if (order != np.arange(order.size)).any():
            volume = volume[order]
            positions = [positions[i] for i in order]
            proj = proj[order]
            notes.append("frames sorted by position along the slice normal")
    dz, step, origin = slice_geometry(proj, positions, iop, dz, notes)
    return _scan(volume, ds, path, notes, iop, spacing_rc, dz, step, origin, 1,
                 float_pixels=pixel_keyword(ds) != "PixelData")


def _series_key(ds: object) -> str:
    return str(ds.get("SeriesInstanceUID", "") or "")  # type: ignore[attr-defined]


def read_dicom_series(paths: list[str], limits: ReadLimits, source: str) -> Scan:
    """Several DICOM files of one series, sorted by position along the slice normal, then InstanceNumber."""
    loaded: list[tuple[str, object]] = []
    skipped: list[str] = []
    for p in paths:
        ds = load_dataset(p, limits)
        sop = str(ds.get("SOPClassUID", "") or getattr(getattr(ds, "file_meta", None),  # type: ignore[attr-defined]
                                                        "MediaStorageSOPClassUID", ""))
        if sop == DICOMDIR_SOP_CLASS or "DirectoryRecordSequence" in ds:  # type: ignore[operator]
            skipped.append(f"{os.path.basename(p)} (DICOMDIR)")
            continue
        if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):  # type: ignore[operator]
            skipped.append(f"{os.path.basename(p)} ({sop_name(ds)}, no pixel data)")
            continue
        loaded.append((p, ds))
    if not loaded:
        extra = f" (skipped: {', '.join(skipped[:5])})" if skipped else ""
        raise fail(source, f"contains no DICOM image{extra}")
    groups: dict[str, list[tuple[str, object]]] = defaultdict(list)
    for p, ds in loaded:
        groups[_series_key(ds)].append((p, ds))
    if len(groups) > 1:
        paired = _image_with_seg(groups, limits, source, skipped)
        if paired is not None:
            return paired
        desc = "; ".join(  # no UIDs in messages (PS3.15 treats them as identifying)
            f"series {i + 1}: {len(items)} file(s), {items[0][1].get('Modality', '?')}, "  # type: ignore[attr-defined]
            f"{items[0][1].get('Rows', '?')}×{items[0][1].get('Columns', '?')}"  # type: ignore[attr-defined]
            for i, (_, items) in enumerate(sorted(groups.items(), key=lambda kv: -len(kv[1])))
        )
        raise fail(source, f"holds {len(groups)} different series ({desc}); put one series per folder or zip")
    if len(loaded) == 1:
        scan = read_dicom_file(loaded[0][0], limits, loaded[0][1])
        scan.source_path = source
        return scan
    return _assemble(loaded, limits, source, skipped)


def _image_with_seg(groups: dict[str, list[tuple[str, object]]], limits: ReadLimits, source: str,
                    skipped: list[str]) -> Scan | None:
    """One image series + one DICOM SEG file: the series with the SEG labels resampled onto its grid."""
    segs = [g for g in groups.values() if str(g[0][1].get("SOPClassUID", "")) == SEG_SOP_CLASS]  # type: ignore[attr-defined]
    if len(groups) != 2 or len(segs) != 1 or len(segs[0]) != 1:
        return None
    from medgan.io.resample import labels_on_grid

    images = next(g for g in groups.values() if g is not segs[0])
    seg_path, seg_ds = segs[0][0]
    seg = read_seg(seg_ds, seg_path, limits)
    if len(images) == 1:
        scan = read_dicom_file(images[0][0], limits, images[0][1])
        scan.source_path = source
    else:
        scan = _assemble(images, limits, source, skipped)
    labels, _ = labels_on_grid(scan, seg.labels, seg)  # type: ignore[arg-type]
    if seg.labels is not None and seg.labels.any() and not labels.any():
        raise fail(source, f"the DICOM SEG {os.path.basename(seg_path)} does not overlap the image series")
    scan.labels, scan.label_names = labels, seg.label_names
    scan.notes.append(f"labels from DICOM SEG {os.path.basename(seg_path)} resampled onto the series")
    scan.metadata["segments"] = seg.metadata.get("segments", "")
    return scan


def _assemble(loaded: list[tuple[str, object]], limits: ReadLimits, source: str, skipped: list[str]) -> Scan:
    notes: list[str] = []
    if skipped:
        notes.append(f"skipped {len(skipped)} non-image file(s): {', '.join(skipped[:5])}")
    first = loaded[0][1]
    if str(first.get("SOPClassUID", "")) == SEG_SOP_CLASS:  # type: ignore[attr-defined]
        raise fail(source, "holds several DICOM SEG files in one series; open them one at a time")
    sizes: list[int] = []
    total = 0
    for p, ds in loaded:
        frames, rows, cols = check_header(ds, p, limits, voxels_before=total)
        total += frames * rows * cols
        sizes.append(frames)
        if (rows, cols) != (int(first.Rows), int(first.Columns)):  # type: ignore[attr-defined]
            raise fail(source, f"slices have different sizes ({first.Rows}×{first.Columns} in "  # type: ignore[attr-defined]
                               f"{os.path.basename(loaded[0][0])}, {rows}×{cols} in {os.path.basename(p)}); "
                               "one series must share one image size")
    iop, spacing_rc, dz = geometry(first)
    normal = normal_of(iop)
    keyed = []
    for i, (p, ds) in enumerate(loaded):
        pos = dicom_vector(ds.get("ImagePositionPatient"), 3)  # type: ignore[attr-defined]
        try:
            inst = int(ds.get("InstanceNumber", 0) or 0)  # type: ignore[attr-defined]
        except (TypeError, ValueError):
            inst = 0
        keyed.append((float(pos @ normal) if pos is not None else 0.0, inst, os.path.basename(p), i, pos))
    have_pos = all(k[4] is not None for k in keyed)
    keyed.sort(key=lambda k: (k[0], k[1], k[2]) if have_pos else (k[1], k[2]))
    if not have_pos:
        notes.append("ImagePositionPatient missing; slices sorted by InstanceNumber")
    rows, cols = int(first.Rows), int(first.Columns)  # type: ignore[attr-defined]
    float_pixels = any(pixel_keyword(ds) != "PixelData" for _, ds in loaded)
    volume = np.empty((sum(sizes), rows, cols), dtype=np.float32)
    z = 0
    for _, _, _, i, _ in keyed:
        p, ds = loaded[i]
        n = sizes[i]
        decode(ds, p, notes, out=volume[z : z + n])
        z += n
        try:
            del ds.PixelData  # type: ignore[attr-defined]  # free the encoded bytes early
        except AttributeError:
            pass
    positions = [k[4] for k in keyed] if have_pos and all(s == 1 for s in sizes) else None
    proj = np.array([k[0] for k in keyed])
    dz, step, origin = slice_geometry(proj, positions, iop, dz, notes)
    return _scan(volume, loaded[keyed[0][3]][1], source, notes, iop, spacing_rc, dz, step, origin, len(loaded),
                 float_pixels=float_pixels)
