"""``python -m medgan info PATH``: read a scan and print its de-identified summary."""

from __future__ import annotations

import argparse
import json
import sys

from medgan.io.reader import read_scan
from medgan.io.scan import ScanError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="+", help="a DICOM file, folder or zip of one series, NIfTI, PNG, JPEG or TIFF "
                                                "(several DICOM files of one series may be given)")
    parser.add_argument("--volume-index", type=int, default=0, help="volume of a 4-D NIfTI (default 0)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def main(args: argparse.Namespace) -> int:
    target = args.path[0] if len(args.path) == 1 else list(args.path)
    try:
        scan = read_scan(target, volume_index=args.volume_index)
    except ScanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    summary = scan.summary()
    if scan.labels is not None:
        summary["labels"] = ", ".join(scan.label_names or ()) or f"max {int(scan.labels.max())}"
    if args.json:
        print(json.dumps({"summary": summary, "notes": scan.notes}, indent=2, ensure_ascii=False))
        return 0
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        print(f"{key:<{width}}  {value}")
    for note in scan.notes:
        print(f"note: {note}")
    return 0
