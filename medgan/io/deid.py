"""De-identification by allow-list (DICOM PS3.15 basic application level confidentiality profile).

Only attributes named below ever leave a reader: image geometry, pixel description and a few acquisition
parameters. Patient, study, institution, operator and equipment-identifying attributes, UIDs, dates, free-text
descriptions, sequences and private tags are never copied.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

# Attributes copied into Scan.dicom_template (the basis of derived DICOM files).
TEMPLATE_KEYWORDS: tuple[str, ...] = (
    "SOPClassUID", "Modality", "Manufacturer", "ManufacturerModelName", "BodyPartExamined", "PatientPosition",
    "Laterality", "ImageLaterality",
    "Rows", "Columns", "PixelSpacing", "ImageOrientationPatient", "ImagePositionPatient", "SliceThickness",
    "SpacingBetweenSlices", "SliceLocation", "PixelAspectRatio",
    "SamplesPerPixel", "PhotometricInterpretation", "BitsAllocated", "BitsStored", "HighBit",
    "PixelRepresentation", "RescaleIntercept", "RescaleSlope", "RescaleType", "WindowCenter", "WindowWidth",
    "KVP", "ConvolutionKernel", "MagneticFieldStrength", "RepetitionTime", "EchoTime", "InversionTime",
    "FlipAngle", "ScanningSequence", "SequenceVariant", "MRAcquisitionType", "ImagedNucleus",
)

# Attributes shown in Scan.metadata (label → keyword).
SUMMARY_FIELDS: tuple[tuple[str, str], ...] = (
    ("manufacturer", "Manufacturer"),
    ("model", "ManufacturerModelName"),
    ("body part", "BodyPartExamined"),
    ("photometric", "PhotometricInterpretation"),
    ("bits stored", "BitsStored"),
    ("pixel spacing (mm)", "PixelSpacing"),
    ("slice thickness (mm)", "SliceThickness"),
    ("kVp", "KVP"),
    ("kernel", "ConvolutionKernel"),
    ("field strength (T)", "MagneticFieldStrength"),
    ("TR (ms)", "RepetitionTime"),
    ("TE (ms)", "EchoTime"),
    ("flip angle", "FlipAngle"),
    ("sequence", "ScanningSequence"),
    ("MR acquisition", "MRAcquisitionType"),
    ("rescale type", "RescaleType"),
)

# Never allowed in output, whatever happens (checked by tests and by the DICOM writer).
PHI_KEYWORDS: tuple[str, ...] = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientBirthTime", "OtherPatientIDs", "OtherPatientNames",
    "PatientAddress", "PatientTelephoneNumbers", "PatientMotherBirthName", "InstitutionName",
    "InstitutionAddress", "InstitutionalDepartmentName", "AccessionNumber", "ReferringPhysicianName",
    "PerformingPhysicianName", "OperatorsName", "PhysiciansOfRecord", "StationName", "DeviceSerialNumber",
    "StudyID", "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "StudyTime", "SeriesTime",
    "AcquisitionTime", "ContentTime", "PatientAge", "PatientWeight", "PatientSize", "MilitaryRank",
    "RequestingPhysician", "StudyDescription", "SeriesDescription", "RequestAttributesSequence",
)


def _text(value: object) -> str:
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(_text(v) for v in value)  # type: ignore[union-attr]
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value).strip()


def summary_metadata(ds: object) -> dict[str, str]:
    """De-identified header summary of a pydicom Dataset: allow-listed acquisition fields only."""
    from pydicom.uid import UID

    out: dict[str, str] = {}
    sop = getattr(ds, "SOPClassUID", None)
    if sop:
        out["SOP class"] = UID(str(sop)).name
    meta = getattr(ds, "file_meta", None)
    ts = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    if ts:
        out["transfer syntax"] = UID(str(ts)).name
    frames = getattr(ds, "NumberOfFrames", None)
    if frames not in (None, "", 1, "1"):
        out["frames per file"] = _text(frames)
    for label, keyword in SUMMARY_FIELDS:
        try:
            value = ds.get(keyword)  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - a malformed optional field is simply left out
            continue
        if value is None or value == "":
            continue
        text = _text(value)
        if text and len(text) <= 64:
            out[label] = text
    return out


def template_from(ds: object) -> object:
    """A de-identified copy of one slice's header (no pixel data, no sequences, no private tags).

    Type-2 patient/study attributes are present but empty, and PatientIdentityRemoved is YES.
    """
    from pydicom.dataset import Dataset

    tpl = Dataset()
    for keyword in TEMPLATE_KEYWORDS:
        try:
            elem = ds[keyword] if keyword in ds else None  # type: ignore[operator,index]
        except Exception:  # noqa: BLE001 - unreadable optional attribute is dropped
            elem = None
        if elem is None or elem.VR == "SQ":
            continue
        try:
            setattr(tpl, keyword, elem.value)
        except Exception:  # noqa: BLE001
            log.debug("template: dropped unreadable %s", keyword)
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                    "ReferringPhysicianName", "StudyID", "AccessionNumber"):
        setattr(tpl, keyword, "")
    tpl.PatientIdentityRemoved = "YES"
    tpl.DeidentificationMethod = "medgan allow-list (DICOM PS3.15 basic profile)"
    return tpl
