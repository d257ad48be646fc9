"""Training data for a job: the embedded dataset, procedural phantoms, an uploaded zip, or a server folder.

Uploaded zips are extracted safely into ``MEDGAN_HOME/uploads/<token>/`` and validated (missing masks,
mismatched sizes, wrong label values, too few cases) before any job starts; server folders are offered only
under ``MEDGAN_TRAIN_DATA_ROOT``. Every problem is a :class:`DataChoiceError` with a plain-words message.
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from medgan.paths import medgan_home

DATA_ROOT_ENV = "MEDGAN_TRAIN_DATA_ROOT"
MIN_CASES = 4
SOURCES = ("embedded", "phantoms", "upload", "server")


class DataChoiceError(ValueError):
    """The chosen training data cannot be used; the message says why and what is accepted."""


@dataclass
class DataChoice:
    """What the worker gets as ``--data`` and how the model card describes it."""

    arg: str
    description: str


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


def _describe(report: object, fallback: str) -> str:
    for attr in ("description", "summary"):
        value = getattr(report, attr, None)
        if callable(value):
            value = value()
        if isinstance(value, str) and value:
            return value
    n = getattr(report, "n_cases", None) or len(getattr(report, "cases", []) or [])
    layout = getattr(report, "layout", None) or getattr(report, "kind", None)
    return f"{fallback}: {n} cases" + (f" ({layout})" if layout else "")


def _validate(path: Path, num_classes: int | None, what: str) -> str:
    folders = _folders()
    try:
        report = folders.validate_folder(path, num_classes=num_classes, min_cases=MIN_CASES)
    except folders.DataError as exc:
        raise DataChoiceError(f"{what} cannot be used for training: {exc}") from exc
    return _describe(report, what)


def _dataset_root(folder: Path) -> Path:
    """Descend through a single wrapping folder (``data.zip`` → ``data/``), ignoring macOS metadata."""
    while True:
        entries = [p for p in folder.iterdir() if p.name not in ("__MACOSX", ".DS_Store")]
        if len(entries) == 1 and entries[0].is_dir() and entries[0].name not in ("images", "masks", "labels"):
            folder = entries[0]
        else:
            return folder


def prepare_upload(zip_path: str | Path, num_classes: int | None = None) -> DataChoice:
    """Extract and validate an uploaded zip (PNG pairs images/ + masks/, or NIfTI pairs in the ACDC layout)."""
    src = Path(zip_path)
    if not src.exists():
        raise DataChoiceError("the uploaded file is missing; upload the zip again")
    if src.suffix.lower() != ".zip":
        raise DataChoiceError(f"{src.name!r} is not a zip; upload a .zip of PNG pairs (images/ and masks/) "
                              "or NIfTI image + label pairs (ACDC layout)")
    folders = _folders()
    dest = medgan_home() / "uploads" / secrets.token_hex(8)
    dest.mkdir(parents=True)
    try:
        try:
            folders.extract_zip_safely(src, dest)
        except folders.DataError as exc:
            raise DataChoiceError(f"the zip {src.name!r} cannot be used: {exc}") from exc
        root = _dataset_root(dest)
        desc = _validate(root, num_classes, f"uploaded zip {src.name!r}")
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return DataChoice(arg=str(root), description=desc)


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
    return DataChoice(arg=str(path), description=_validate(path, num_classes, f"server folder {name!r}"))


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
