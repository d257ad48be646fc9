"""``read_scan``: one entry point for every accepted input (file, folder, list of files, zip)."""

from __future__ import annotations

import gzip
import logging
import os
import tempfile
import warnings
from collections.abc import Sequence

from medgan.io.dicom_pixels import ACCEPTED
from medgan.io.limits import DEFAULT_LIMITS, ReadLimits
from medgan.io.scan import Scan, ScanError

log = logging.getLogger(__name__)

_DICOM_EXT = (".dcm", ".dicom", ".ima")
_HIDDEN_OR_TEXT = (".txt", ".md", ".json", ".csv", ".xml", ".html", ".pdf")


def _fail(path: str, what: str) -> ScanError:
    return ScanError(f"{path}: {what}; {ACCEPTED}")


def _is_nifti_header(head: bytes) -> bool:
    if len(head) >= 348:
        for order in ("<", ">"):
            n = int.from_bytes(head[:4], "little" if order == "<" else "big")
            if n == 348 and head[344:347] in (b"n+1", b"ni1"):
                return True
            if n == 540 and head[4:7] in (b"n+2", b"ni2"):
                return True
    return False


def sniff(path: str) -> str:
    """File kind from its leading bytes: dicom, nifti, png, jpeg, tiff, zip, empty, or unknown."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1024)
    except OSError as exc:
        raise _fail(path, f"cannot be opened ({exc.strerror})") from exc
    if not head:
        return "empty"
    if head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as gz:
                inner = gz.read(600)
        except (OSError, EOFError):
            return "unknown"
        return "nifti" if _is_nifti_header(inner) else "gzip"
    if _is_nifti_header(head):
        return "nifti"
    # DICOM without the 128-byte preamble: a group 0x0002 or 0x0008 tag first (little or big endian).
    if len(head) >= 8 and (head[:2] in (b"\x02\x00", b"\x08\x00") or head[:2] in (b"\x00\x02", b"\x00\x08")):
        return "dicom"
    if path.lower().endswith(_DICOM_EXT):
        return "dicom"
    return "unknown"


def _read_file(path: str, limits: ReadLimits, volume_index: int) -> Scan:
    kind = sniff(path)
    if kind == "empty":
        raise _fail(path, "is empty (0 bytes)")
    if kind == "dicom":
        from medgan.io.dicom_reader import read_dicom_file

        return read_dicom_file(path, limits)
    if kind == "nifti":
        from medgan.io.nifti_reader import read_nifti

        return read_nifti(path, limits, volume_index)
    if kind in ("png", "jpeg", "tiff"):
        from medgan.io.image_reader import read_raster

        return read_raster(path, limits, kind)
    if kind == "zip":
        return _read_zip(path, limits, volume_index)
    if kind == "gzip":
        raise _fail(path, "is a gzip file that does not hold a NIfTI image (decompress it first)")
    if path.lower().endswith((".hdr", ".img")):
        raise _fail(path, "looks like an Analyze/NIfTI pair; convert it to a single .nii or .nii.gz file")
    raise _fail(path, "is not a recognised image format")


def _list_files(folder: str, limits: ReadLimits) -> list[str]:
    files: list[str] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__MACOSX")
        for name in sorted(names):
            if name.startswith(".") or name.lower().endswith(_HIDDEN_OR_TEXT) or name.upper() == "DICOMDIR":
                continue
            files.append(os.path.join(root, name))
            if len(files) > limits.max_files:
                raise _fail(folder, f"holds more than {limits.max_files:,} files (the limit)")
    return files


def _read_many(paths: list[str], limits: ReadLimits, volume_index: int, source: str) -> Scan:
    kinds: dict[str, list[str]] = {}
    for p in paths:
        kinds.setdefault(sniff(p), []).append(p)
    dicoms = kinds.get("dicom", [])
    if dicoms:
        from medgan.io.dicom_reader import read_dicom_series

        others = sum(len(v) for k, v in kinds.items() if k not in ("dicom", "unknown", "empty"))
        scan = read_dicom_series(dicoms, limits, source)
        if others:
            scan.notes.append(f"{others} non-DICOM file(s) ignored")
        return scan
    readable = [p for k, v in kinds.items() if k in ("nifti", "png", "jpeg", "tiff") for p in v]
    if len(readable) == 1:
        scan = _read_file(readable[0], limits, volume_index)
        return scan
    if not readable:
        raise _fail(source, "contains no readable image (empty folder or only unrecognised files)")
    raise _fail(source, f"holds {len(readable)} separate image files that are not a DICOM series; "
                        "open one file at a time")


def _read_zip(path: str, limits: ReadLimits, volume_index: int) -> Scan:
    from medgan.io.archive import safe_extract

    with tempfile.TemporaryDirectory(prefix="medgan-zip-") as tmp:
        safe_extract(path, tmp, limits)
        files = _list_files(tmp, limits)
        if not files:
            raise _fail(path, "is an empty zip archive")
        scan = _read_many(files, limits, volume_index, path)
    scan.source_path = path
    return scan


def read_scan(path_or_paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], *, volume_index: int = 0,
              limits: ReadLimits | None = None) -> Scan:
    """Read a scan: a DICOM file / folder / list of files of one series / zip of them, NIfTI, PNG, JPEG, TIFF.

    Returns a :class:`Scan` with a float32 (Z, H, W) volume in modality units (CT: HU), spacing (z, y, x) mm,
    the voxel → world affine, and de-identified metadata. ``volume_index`` picks the volume of a 4-D NIfTI.
    Raises :class:`ScanError` (naming the file, what is wrong and what is accepted) on any bad input.
    """
    limits = limits or DEFAULT_LIMITS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # malformed-header chatter from the parsers; problems raise ScanError
        return _read_scan(path_or_paths, volume_index, limits)


def _read_scan(path_or_paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], volume_index: int,
               limits: ReadLimits) -> Scan:
    try:
        if isinstance(path_or_paths, (list, tuple)):
            paths = [os.fspath(p) for p in path_or_paths]
            if not paths:
                raise ScanError(f"no files given; {ACCEPTED}")
            for p in paths:
                if not os.path.isfile(p):
                    raise _fail(p, "does not exist or is not a file")
            if len(paths) == 1:
                return _read_file(paths[0], limits, volume_index)
            if len(paths) > limits.max_files:
                raise _fail(os.path.dirname(paths[0]), f"{len(paths):,} files given, over the limit of "
                                                       f"{limits.max_files:,}")
            return _read_many(paths, limits, volume_index, os.path.commonpath(paths) or paths[0])
        path = os.fspath(path_or_paths)
        if os.path.isdir(path):
            files = _list_files(path, limits)
            if not files:
                raise _fail(path, "is an empty folder")
            scan = _read_many(files, limits, volume_index, path)
            scan.source_path = path
            return scan
        if not os.path.isfile(path):
            raise _fail(path, "does not exist")
        return _read_file(path, limits, volume_index)
    except ScanError:
        raise
    except RecursionError as exc:
        raise _fail(_name(path_or_paths), "is nested too deeply to parse (malformed file)") from exc
    except MemoryError as exc:
        raise ScanError(f"{_name(path_or_paths)}: not enough memory to read this scan; {ACCEPTED}") from exc
    except BaseException as exc:  # last line of defence: malformed values surface lazily; Rust decoders panic
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        log.debug("unexpected error reading %s", _name(path_or_paths), exc_info=True)
        raise _fail(_name(path_or_paths), f"is malformed and could not be read ({type(exc).__name__}: "
                                          f"{str(exc)[:200]})") from exc


def _name(path_or_paths: object) -> str:
    if isinstance(path_or_paths, (list, tuple)):
        return os.fspath(path_or_paths[0]) if path_or_paths else "(no files)"
    return os.fspath(path_or_paths)  # type: ignore[call-overload]
