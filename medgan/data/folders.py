"""Folder datasets of images + label maps, for fine-tuning on the user's own data.

Accepted layouts (a zip of any of them, once extracted with :func:`extract_zip_safely`):

- ``png``: ``images/`` and ``masks/`` (or ``labels/``) holding PNG/JPEG/TIFF files with the same names;
  masks are grey integer label maps (0 = background; 0/255 binary masks are read as 0/1).
- ``acdc``: NIfTI pairs ``patientXXX_frameYY.nii.gz`` + ``patientXXX_frameYY_gt.nii.gz`` anywhere below the
  folder (e.g. in ``patientXXX/`` subfolders); ``*_4d.nii.gz`` files are ignored.
- ``dicom``: one subfolder per case holding a DICOM series and one label NIfTI (``*.nii`` / ``*.nii.gz``);
  the labels are resampled onto the DICOM grid by world coordinates (nearest neighbour).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medgan.io.archive import safe_extract
from medgan.io.limits import ReadLimits
from medgan.io.reader import read_scan, sniff
from medgan.io.resample import labels_on_grid
from medgan.io.scan import Scan, ScanError
from medgan.io.windowing import auto_window, fit_to_square, is_display_8bit, window

log = logging.getLogger(__name__)

LAYOUTS = ("png", "acdc", "dicom")
_RASTER = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
_GT = re.compile(r"^(?P<stem>.+)_gt\.nii(\.gz)?$")
_IGNORE_DIRS = {"__MACOSX", ".git"}
ACCEPTED = ("accepted: images/ + masks/ folders of PNG files with the same names; ACDC-style NIfTI pairs "
            "patientXXX_frameYY.nii.gz + patientXXX_frameYY_gt.nii.gz; or one folder per case with a DICOM "
            "series and a label NIfTI")


class DataError(ValueError):
    """A folder dataset is unusable; the message says what is wrong and what is accepted."""


@dataclass
class FolderCase:
    """One image + label pair: ``image`` is a file or a DICOM series folder."""

    case_id: str
    image: Path
    label: Path


@dataclass
class FolderReport:
    """What :func:`validate_folder` found."""

    root: Path
    layout: str
    cases: list[FolderCase]
    num_slices: int = 0
    label_values: tuple[int, ...] = ()
    image_shapes: list[tuple[int, int, int]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        vals = ", ".join(map(str, self.label_values))
        return (f"{len(self.cases)} case(s), {self.num_slices} labelled slice(s), layout {self.layout}, "
                f"label values {{{vals}}}")


def extract_zip_safely(zip_path: str | os.PathLike[str], dest: str | os.PathLike[str],
                       limits: ReadLimits | None = None) -> Path:
    """Extract an uploaded zip into ``dest`` (DataError on traversal, links, zip bombs); returns the data root."""
    safe_extract(zip_path, dest, limits, error=DataError)
    return _data_root(Path(dest))


def _data_root(path: Path) -> Path:
    """Descend through single wrapper folders (``upload.zip`` → ``upload/``)."""
    while True:
        entries = [e for e in path.iterdir() if e.name not in _IGNORE_DIRS and not e.name.startswith(".")]
        if len(entries) == 1 and entries[0].is_dir() and entries[0].name.lower() not in ("images", "masks"):
            path = entries[0]
            continue
        return path


def _find_dir(root: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        for cand in (root / name, root / name.capitalize(), root / name.upper()):
            if cand.is_dir():
                return cand
    return None


def _raster_files(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in _RASTER and not p.name.startswith(".")}


def find_cases(path: str | os.PathLike[str]) -> tuple[str, Path, list[FolderCase]]:
    """(layout, root, cases) of a dataset folder; DataError when no accepted layout is found."""
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"{root}: is not a folder (extract a zip with extract_zip_safely first); {ACCEPTED}")
    root = _data_root(root)
    images, masks = _find_dir(root, ("images", "image", "imgs")), _find_dir(root, ("masks", "mask", "labels", "gt"))
    if images is not None and masks is not None:
        imgs, msks = _raster_files(images), _raster_files(masks)
        missing = sorted(set(imgs) - set(msks))
        if missing:
            raise DataError(f"{root}: {len(missing)} image(s) have no mask in {masks.name}/ "
                            f"(e.g. {', '.join(missing[:5])}); every image needs a mask with the same name; "
                            f"{ACCEPTED}")
        orphans = sorted(set(msks) - set(imgs))
        if orphans:
            raise DataError(f"{root}: {len(orphans)} mask(s) have no image in {images.name}/ "
                            f"(e.g. {', '.join(orphans[:5])}); {ACCEPTED}")
        return "png", root, [FolderCase(k, imgs[k], msks[k]) for k in sorted(imgs)]
    if images is not None or masks is not None:
        raise DataError(f"{root}: found {(images or masks).name}/ but not its partner folder "  # type: ignore[union-attr]
                        f"({'masks' if images is not None else 'images'}/); {ACCEPTED}")
    niftis = sorted(p for p in root.rglob("*.nii*") if p.name.endswith((".nii", ".nii.gz"))
                    and not any(part in _IGNORE_DIRS for part in p.parts))
    gts = [p for p in niftis if _GT.match(p.name)]
    if gts:
        cases = []
        for gt in gts:
            stem = _GT.match(gt.name).group("stem")  # type: ignore[union-attr]
            cands = [gt.with_name(stem + ext) for ext in (".nii.gz", ".nii")]
            img = next((c for c in cands if c.exists()), None)
            if img is None:
                raise DataError(f"{gt}: label file has no image {stem}.nii.gz beside it; {ACCEPTED}")
            cases.append(FolderCase(stem, img, gt))
        return "acdc", root, cases
    cases = []
    for folder in sorted({p.parent for p in niftis}):
        labels = [p for p in folder.iterdir() if p.name.endswith((".nii", ".nii.gz"))]
        series = [p for p in folder.rglob("*") if p.is_file() and not p.name.endswith((".nii", ".nii.gz"))
                  and _safe_sniff(p) == "dicom"]
        if series and len(labels) == 1:
            cases.append(FolderCase(folder.name, folder, labels[0]))
        elif series:
            raise DataError(f"{folder}: holds {len(labels)} NIfTI files; one label NIfTI per DICOM series "
                            f"folder is accepted; {ACCEPTED}")
    if cases:
        return "dicom", root, cases
    if niftis:
        raise DataError(f"{root}: NIfTI files found but no labels: name them like patient001_frame01_gt.nii.gz "
                        f"beside patient001_frame01.nii.gz; {ACCEPTED}")
    raise DataError(f"{root}: no image/label pairs found; {ACCEPTED}")


def _safe_sniff(p: Path) -> str:
    try:
        return sniff(str(p))
    except ScanError:
        return "unknown"


def _labels_on_grid(image: Scan, label: Scan) -> np.ndarray:
    """Label volume sampled on the image grid by world coordinates (nearest neighbour); outside → 0."""
    out, inside = labels_on_grid(image, label.volume, label)
    if inside < 0.5:
        raise DataError(f"{label.source_path}: label volume does not cover the DICOM series "
                        f"({inside:.0%} of voxels inside); labels must share the series' geometry")
    return out


def _read(path: Path, what: str) -> Scan:
    try:
        return read_scan(path)
    except ScanError as exc:
        raise DataError(f"{what} could not be read: {exc}") from exc


def _as_labels(vol: np.ndarray, path: Path, num_classes: int | None, warnings: list[str]) -> np.ndarray:
    if not np.all(np.isfinite(vol)) or not np.all(vol == np.rint(vol)):
        raise DataError(f"{path}: label map holds non-integer values; masks must be integer label maps "
                        f"(0 = background); {ACCEPTED}")
    values = set(np.unique(vol).astype(int).tolist())
    if values <= {0, 255} and 255 in values:
        vol = (vol > 0).astype(np.float32)
        warnings.append(f"{path.name}: 0/255 mask read as 0/1")
        values = set(np.unique(vol).astype(int).tolist())
    if min(values) < 0 or max(values) > 255:
        raise DataError(f"{path}: label values {sorted(values)[:10]} are outside 0..255; {ACCEPTED}")
    if num_classes is not None and max(values) >= num_classes:
        bad = sorted(v for v in values if v >= num_classes)
        raise DataError(f"{path}: label values {bad[:10]} are not valid for {num_classes} classes "
                        f"(0..{num_classes - 1}); remap the masks or choose a model with more classes")
    return vol.astype(np.uint8)


def _intensity(scan: Scan) -> np.ndarray:
    """float32 [0, 1]: 8-bit display rasters /255 (:func:`medgan.io.is_display_8bit`; a 16-bit file is windowed
    whatever its values), CT soft-tissue window, anything else 0.5–99.5 percentiles."""
    if is_display_8bit(scan):
        return np.clip(scan.volume / 255.0, 0.0, 1.0).astype(np.float32)
    level, width = auto_window(scan)
    return window(scan.volume, level, width)


def _read_pair(layout: str, case: FolderCase, num_classes: int | None, warnings: list[str]
               ) -> tuple[Scan, np.ndarray]:
    """The case's image scan and its label volume on the image's grid (uint8), checked."""
    image = _read(case.image, f"image of case {case.case_id}")
    label = _read(case.label, f"label of case {case.case_id}")
    if any("grey" in n for n in label.notes):
        raise DataError(f"{case.label}: mask is a colour image; masks must be grey integer label maps "
                        f"(0 = background, 1, 2, ...); {ACCEPTED}")
    if layout == "dicom":
        lab_vol = _labels_on_grid(image, label)
    else:
        lab_vol = label.volume
        if lab_vol.shape != image.volume.shape:
            dims = "×".join(map(str, image.shape)), "×".join(map(str, label.shape))
            raise DataError(f"case {case.case_id}: image {case.image.name} is {dims[0]} but its label "
                            f"{case.label.name} is {dims[1]}; image and label sizes must match")
        if layout == "acdc" and not np.allclose(image.affine, label.affine, atol=1e-3):
            warnings.append(f"{case.case_id}: image and label affines differ; voxel grids assumed equal")
    return image, _as_labels(lab_vol, case.label, num_classes, warnings)


def _iter_pairs(path: str | os.PathLike[str], num_classes: int | None, min_cases: int):
    layout, root, cases = find_cases(path)
    if len(cases) < min_cases:
        raise DataError(f"{root}: found {len(cases)} case(s), at least {min_cases} are needed; {ACCEPTED}")
    report = FolderReport(root=root, layout=layout, cases=cases)
    values: set[int] = set()
    for case in cases:
        image, labels = _read_pair(layout, case, num_classes, report.warnings)
        values |= set(np.unique(labels).tolist())
        report.image_shapes.append(image.shape)
        yield report, image, labels
    report.label_values = tuple(sorted(values))


def sample_pairs(path: str | os.PathLike[str], n: int = 4, num_classes: int | None = None
                 ) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Up to ``n`` pairs spread over the dataset's cases, for a preview: (case id, image float32 (H, W) in [0, 1],
    labels uint8 (H, W)); a volume gives its middle labelled axial slice. DataError as :func:`validate_folder`."""
    layout, _root, cases = find_cases(path)
    if not cases or n < 1:
        return []
    picks = sorted({int(i) for i in np.linspace(0, len(cases) - 1, min(n, len(cases))).round()})
    out = []
    for i in picks:
        image, labels = _read_pair(layout, cases[i], num_classes, [])
        labelled = np.flatnonzero((labels.reshape(labels.shape[0], -1) > 0).any(axis=1))
        z = int(labelled[len(labelled) // 2]) if len(labelled) else labels.shape[0] // 2
        out.append((cases[i].case_id, _intensity(image)[z], labels[z]))
    return out


def validate_folder(path: str | os.PathLike[str], num_classes: int | None = None, min_cases: int = 1
                    ) -> FolderReport:
    """Check a dataset folder without building tensors; DataError with a clear message on any problem."""
    report: FolderReport | None = None
    slices = 0
    for report, _image, labels in _iter_pairs(path, num_classes, min_cases):
        slices += labels.shape[0] if report.layout == "png" else int((labels.reshape(labels.shape[0], -1) > 0)
                                                                     .any(axis=1).sum())
    assert report is not None
    report.num_slices = slices
    if slices == 0:
        raise DataError(f"{report.root}: no labelled slice found (all label maps are empty); {ACCEPTED}")
    return report


def load_folder(path: str | os.PathLike[str], size: int = 256, num_classes: int | None = None,
                min_cases: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(images float32 (N, size, size) in [0, 1], labels uint8 (N, size, size)) as 2-D slices.

    PNG pairs give one slice each; volumes give their axial slices that contain labels. Each slice is padded
    to a square (aspect kept) and resized (images bilinear/area, labels nearest neighbour).
    """
    images: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for report, scan, lab in _iter_pairs(path, num_classes, min_cases):
        vol = _intensity(scan)
        keep = range(lab.shape[0]) if report.layout == "png" else np.flatnonzero(
            (lab.reshape(lab.shape[0], -1) > 0).any(axis=1))
        for z in keep:
            img_sq, _ = fit_to_square(vol[z], size, fill=0.0)
            lab_sq, _ = fit_to_square(lab[z], size, labels=True)
            images.append(np.clip(img_sq, 0.0, 1.0).astype(np.float32))
            labels.append(lab_sq.astype(np.uint8))
    if not images:
        raise DataError(f"{path}: no labelled slice found (all label maps are empty); {ACCEPTED}")
    return np.stack(images), np.stack(labels)
