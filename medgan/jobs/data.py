"""Training data for a job: the embedded dataset, procedural phantoms, an uploaded zip, or a server folder.

Uploaded zips are checked against a size limit (``MEDGAN_UPLOAD_MAX_MB``, default 500 MiB: the zip itself, the
sizes its members declare, and the bytes counted while extracting, so a zip bomb stops early), extracted safely
into ``MEDGAN_HOME/uploads/<token>/`` (the token is the zip's content hash, so previewing a zip and then starting
a job from it extracts it once) and validated (missing masks, mismatched sizes, wrong label values, too few
cases) before any job starts; a refused zip leaves nothing on disk. :func:`preview_upload` describes what a zip
holds (counts, image sizes, label values, a few pairs) before a job is queued. :func:`release_upload` removes an
upload once no job needs it, :func:`sweep_uploads` the ones no job ever used. Server folders are offered only
under ``MEDGAN_TRAIN_DATA_ROOT``. Every problem is a :class:`DataChoiceError` with a plain-words message.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medgan.io.archive import safe_extract
from medgan.io.limits import ReadLimits, human_bytes
from medgan.paths import medgan_home

DATA_ROOT_ENV = "MEDGAN_TRAIN_DATA_ROOT"
UPLOAD_LIMIT_ENV = "MEDGAN_UPLOAD_MAX_MB"
DEFAULT_UPLOAD_MB = 500
MIN_CASES = 4
PREVIEW_PAIRS = 4
SOURCES = ("embedded", "phantoms", "upload", "server")
_MARKER = ".medgan-upload.json"  # in an upload folder: its data root and the validations done


class DataChoiceError(ValueError):
    """The chosen training data cannot be used; the message says why and what is accepted."""


class _ZipTooLarge(Exception):
    """A zip over the upload limit (raised inside the extraction, reworded for the user)."""


class _ZipUnusable(Exception):
    """A zip that cannot be extracted safely (raised inside the extraction, reworded for the user)."""


@dataclass
class DataChoice:
    """What the worker gets as ``--data`` and how the model card describes it."""

    arg: str
    description: str


@dataclass
class UploadPreview:
    """What an uploaded zip holds: ``pairs`` are (case id, image float32 (H, W) in [0, 1], labels uint8 (H, W))."""

    choice: DataChoice
    layout: str
    cases: int
    slices: int
    image_sizes: dict[str, int]  # "H×W" (or "Z×H×W" for volumes) → number of cases
    label_values: tuple[int, ...]
    pairs: list[tuple[str, np.ndarray, np.ndarray]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def upload_limit_bytes() -> int:
    """The largest uploaded training zip, compressed or uncompressed: ``MEDGAN_UPLOAD_MAX_MB`` MiB (default 500)."""
    raw = os.environ.get(UPLOAD_LIMIT_ENV, "").strip()
    try:
        mb = float(raw) if raw else DEFAULT_UPLOAD_MB
    except ValueError:
        mb = DEFAULT_UPLOAD_MB
    return int((mb if mb > 0 else DEFAULT_UPLOAD_MB) * 1024 * 1024)


def uploads_dir() -> Path:
    """``MEDGAN_HOME/uploads``: one folder per extracted zip."""
    return medgan_home() / "uploads"


def server_root() -> Path | None:
    """The folder under which server-side datasets may be chosen, or None when the server does not allow it."""
    root = os.environ.get(DATA_ROOT_ENV)
    return Path(root).resolve() if root and Path(root).is_dir() else None


def server_folders() -> list[str]:
    """Sub-folders of the server data root (relative names), for the form's picker."""
    root = server_root()
    if root is None:
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _folders():
    try:
        from medgan.data import folders
    except ImportError as exc:
        raise DataChoiceError("folder datasets are not available in this installation") from exc
    return folders


def _report(path: Path, num_classes: int | None, what: str, hide: Path | None = None):
    """Validate ``path``; problems name files relative to ``hide`` (the server's folders stay private)."""
    folders = _folders()
    try:
        return folders.validate_folder(path, num_classes=num_classes, min_cases=MIN_CASES)
    except folders.DataError as exc:
        msg = str(exc)
        for root in (path, *path.parents):
            if msg.startswith(f"{root}: "):
                msg = msg[len(str(root)) + 2:]
                break
        if hide is not None:
            msg = msg.replace(f"{hide}{os.sep}", "")
        raise DataChoiceError(f"{what} cannot be used for training: {msg}") from None


def _too_large(name: str, what: str, size: int, limit: int) -> DataChoiceError:
    return DataChoiceError(f"the zip {name!r} is too large: {what} {human_bytes(size)}, over the limit of "
                           f"{human_bytes(limit)} for uploaded training data (the server's {UPLOAD_LIMIT_ENV})")


def _check_size(src: Path, limit: int) -> None:
    """Refuse a zip over ``limit`` bytes, compressed or by the sizes its members declare."""
    size = src.stat().st_size
    if size > limit:
        raise _too_large(src.name, "the file is", size, limit)
    try:
        with zipfile.ZipFile(src) as zf:
            declared = sum(i.file_size for i in zf.infolist() if not i.is_dir())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DataChoiceError(f"{src.name!r} is not a readable zip archive ({exc}); upload a .zip of PNG pairs "
                              "(images/ and masks/) or NIfTI image + label pairs (ACDC layout)") from exc
    if declared > limit:
        raise _too_large(src.name, "it unpacks to", declared, limit)


def _token(src: Path) -> str:
    h = hashlib.sha256()
    with open(src, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()[:24]


def _dataset_root(folder: Path) -> Path:
    """Descend through a single wrapping folder (``data.zip`` → ``data/``), ignoring macOS metadata."""
    while True:
        entries = [p for p in folder.iterdir() if p.name not in ("__MACOSX", ".DS_Store", _MARKER)]
        if len(entries) == 1 and entries[0].is_dir() and entries[0].name not in ("images", "masks", "labels"):
            folder = entries[0]
        else:
            return folder


def _plain(exc: Exception, src: Path) -> str:
    """An extraction message without the server's path of the upload."""
    msg = str(exc)
    return msg[len(str(src)) + 2:] if msg.startswith(f"{src}: ") else msg


def _extract(src: Path) -> Path:
    """The upload folder of ``src`` (extracted once; a second call with the same zip reuses it)."""
    limit = upload_limit_bytes()
    _check_size(src, limit)
    dest = uploads_dir() / _token(src)
    if (dest / _MARKER).exists():
        os.utime(dest)  # in use again: not swept as stale
        return dest
    tmp = uploads_dir() / f".{dest.name}-{secrets.token_hex(4)}.tmp"
    tmp.mkdir(parents=True)
    try:
        try:
            safe_extract(src, tmp, ReadLimits(max_archive_bytes=limit), error=_ZipUnusable, too_large=_ZipTooLarge)
        except _ZipTooLarge as exc:
            raise DataChoiceError(f"the zip {src.name!r} is too large: it {_plain(exc, src).split('; ')[0]} for "
                                  f"uploaded training data (the server's {UPLOAD_LIMIT_ENV})") from None
        except _ZipUnusable as exc:
            raise DataChoiceError(f"the zip {src.name!r} cannot be used: {_plain(exc, src)}") from None
        root = _dataset_root(tmp)
        (tmp / _MARKER).write_text(json.dumps({"root": str(root.relative_to(tmp)), "validated": {}}))
        try:
            tmp.rename(dest)
        except OSError:  # the same zip was extracted meanwhile (a preview and a start at once): use that one
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _upload(zip_path: str | Path, num_classes: int | None) -> tuple[Path, object | None, str]:
    """(data root, validation report or None when an earlier validation is reused, description)."""
    src = Path(zip_path)
    if not src.exists():
        raise DataChoiceError("the uploaded file is missing; upload the zip again")
    if src.suffix.lower() != ".zip":
        raise DataChoiceError(f"{src.name!r} is not a zip; upload a .zip of PNG pairs (images/ and masks/) "
                              "or NIfTI image + label pairs (ACDC layout)")
    dest = _extract(src)
    marker = json.loads((dest / _MARKER).read_text())
    root = dest / marker["root"]
    key, what = str(num_classes), f"uploaded zip {src.name!r}"
    if key in marker["validated"]:
        return root, None, f"{what}: {marker['validated'][key]}"
    try:
        report = _report(root, num_classes, what, dest)
    except DataChoiceError:
        if not marker["validated"]:  # no validation ever passed: nothing worth keeping
            shutil.rmtree(dest, ignore_errors=True)
        raise
    marker["validated"][key] = report.summary()
    (dest / _MARKER).write_text(json.dumps(marker))
    return root, report, f"{what}: {report.summary()}"


def prepare_upload(zip_path: str | Path, num_classes: int | None = None) -> DataChoice:
    """Extract and validate an uploaded zip (PNG pairs images/ + masks/, NIfTI pairs in the ACDC layout, or DICOM
    series with a label NIfTI each)."""
    root, _report_, desc = _upload(zip_path, num_classes)
    return DataChoice(arg=str(root), description=desc)


def preview_upload(zip_path: str | Path, num_classes: int | None = None, pairs: int = PREVIEW_PAIRS
                   ) -> UploadPreview:
    """Extract and validate an uploaded zip as :func:`prepare_upload` does, and describe it: counts, image sizes,
    label values and up to ``pairs`` image/label pairs."""
    root, report, desc = _upload(zip_path, num_classes)
    if report is None:
        report = _report(root, num_classes, f"uploaded zip {Path(zip_path).name!r}", upload_folder(str(root)))
    sizes: dict[str, int] = {}
    for shape in report.image_shapes:
        dims = tuple(int(d) for d in shape)
        key = "×".join(map(str, dims[1:] if dims[0] == 1 else dims))
        sizes[key] = sizes.get(key, 0) + 1
    folders = _folders()
    return UploadPreview(choice=DataChoice(str(root), desc), layout=report.layout, cases=len(report.cases),
                         slices=report.num_slices, image_sizes=sizes, label_values=tuple(report.label_values),
                         pairs=folders.sample_pairs(root, pairs, num_classes), warnings=list(report.warnings))


def upload_folder(data_arg: str) -> Path | None:
    """The ``MEDGAN_HOME/uploads/<token>`` folder that a job's ``--data`` lies in, or None for other data."""
    try:
        path = Path(data_arg).resolve()
        base = uploads_dir().resolve()
    except (OSError, ValueError):
        return None
    if base not in path.parents:
        return None
    return base / path.relative_to(base).parts[0]


def release_upload(data_arg: str, other_data_args: list[str]) -> bool:
    """Remove the uploaded data behind ``data_arg`` unless one of ``other_data_args`` (the data of jobs that may
    still run) uses the same upload; True when removed."""
    folder = upload_folder(data_arg)
    if folder is None or not folder.exists() or folder in {upload_folder(a) for a in other_data_args}:
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return not folder.exists()


def sweep_uploads(used_data_args: list[str], max_age_s: float = 24 * 3600) -> list[str]:
    """Remove upload folders older than ``max_age_s`` that no job uses (zips previewed but never trained on,
    interrupted extractions); returns their names."""
    base = uploads_dir()
    if not base.is_dir():
        return []
    used = {upload_folder(a) for a in used_data_args}
    removed = []
    for folder in base.iterdir():
        try:
            old = time.time() - folder.stat().st_mtime > max_age_s
        except OSError:
            continue
        if folder.is_dir() and old and folder.resolve() not in used:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed


def prepare_server_folder(name: str, num_classes: int | None = None) -> DataChoice:
    """Validate a folder under ``MEDGAN_TRAIN_DATA_ROOT`` (refused when the server does not enable it)."""
    root = server_root()
    if root is None:
        raise DataChoiceError(f"server folders are disabled on this server (set {DATA_ROOT_ENV} to enable them)")
    if not name:
        raise DataChoiceError("choose a server folder")
    path = (root / name).resolve()
    if path != root and root not in path.parents:
        raise DataChoiceError(f"{name!r} is outside the server's data folder")
    if not path.is_dir():
        raise DataChoiceError(f"no folder {name!r} in the server's data folder")
    report = _report(path, num_classes, f"server folder {name!r}", root)
    return DataChoice(arg=str(path), description=f"server folder {name!r}: {report.summary()}")


def prepare_data(source: str, upload: str | Path | None = None, folder: str | None = None,
                 num_classes: int | None = None) -> DataChoice:
    """Resolve the form's data choice; DataChoiceError with a message when it cannot be used."""
    if source == "embedded":
        return DataChoice("embedded", "embedded MNI152 2009c T1 (nilearn), train split")
    if source == "phantoms":
        return DataChoice("phantoms", "procedural phantoms (ellipses with textures)")
    if source == "upload":
        if not upload:
            raise DataChoiceError("upload a .zip of PNG pairs (images/ and masks/) or NIfTI image + label pairs")
        return prepare_upload(upload, num_classes)
    if source == "server":
        return prepare_server_folder(folder or "", num_classes)
    raise DataChoiceError(f"unknown data source {source!r}; valid: {', '.join(SOURCES)}")
