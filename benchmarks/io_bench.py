"""Load time and peak memory of read_scan on a multi-slice 512×512 CT series vs plain pydicom.

Builds an N-slice series in a temporary folder from pydicom-data's 512×512 CT frame (eCT_Supplemental.dcm,
converted to classic single-frame CT slices with positions 1 mm apart), then times
  (a) plain: dcmread + pixel_array + RescaleSlope/Intercept per file, sorted by ImagePositionPatient, stacked;
  (b) medgan.io.read_scan(folder).
Prints median wall time over repeats and tracemalloc peak memory. Target: (b) within 1.2× of (a).

    python benchmarks/io_bench.py [--slices 100] [--repeats 5] [--corpus]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def build_series(folder: Path, n: int) -> None:
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    src = pydicom.dcmread(get_testdata_file("eCT_Supplemental.dcm"))
    frame = src.pixel_array[0].astype(np.int16)
    study, series, frame_of_ref = generate_uid(), generate_uid(), generate_uid()
    order = np.random.default_rng(0).permutation(n)  # files on disk in shuffled order
    for k in range(n):
        ds = Dataset()
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame_of_ref
        ds.Modality, ds.PatientName, ds.PatientID = "CT", "BENCH^SERIES", "BENCH"
        ds.Rows, ds.Columns = frame.shape
        ds.PixelSpacing, ds.SliceThickness = [0.5, 0.5], 1.0
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-128.0, -128.0, float(k)]
        ds.InstanceNumber = k + 1
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.PixelData = (frame + (k % 7)).astype(np.int16).tobytes()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.save_as(folder / f"slice{order[k]:04d}.dcm", enforce_file_format=True)


def plain_pydicom(folder: Path) -> np.ndarray:
    import pydicom

    datasets = [pydicom.dcmread(folder / name) for name in sorted(os.listdir(folder))]
    datasets.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    slices = []
    for ds in datasets:
        arr = ds.pixel_array.astype(np.float32)
        slices.append(arr * np.float32(ds.RescaleSlope) + np.float32(ds.RescaleIntercept))
    return np.stack(slices)


def tuned_pydicom(folder: Path) -> np.ndarray:
    """The same with pydicom.pixels.pixel_array (no per-dataset cache) into a preallocated float32 volume."""
    import pydicom
    from pydicom.pixels import pixel_array

    datasets = [pydicom.dcmread(folder / name) for name in sorted(os.listdir(folder))]
    datasets.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    out = np.empty((len(datasets), int(datasets[0].Rows), int(datasets[0].Columns)), np.float32)
    for k, ds in enumerate(datasets):
        np.multiply(pixel_array(ds), np.float32(ds.RescaleSlope), out=out[k], casting="unsafe")
        out[k] += np.float32(ds.RescaleIntercept)
    return out


def medgan_read(folder: Path) -> np.ndarray:
    from medgan.io import read_scan

    return read_scan(folder).volume


def measure(fns: dict, folder: Path, repeats: int) -> dict[str, tuple[float, float, float, np.ndarray]]:
    """Per function: (min s, median s, tracemalloc peak MiB, output); runs interleaved, order rotated."""
    outs = {name: fn(folder) for name, fn in fns.items()}  # warm-up (imports, page cache)
    times: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:  # rotate the order: no position bias
            fn = fns[name]
            t0 = time.perf_counter()
            outs[name] = fn(folder)
            times[name].append(time.perf_counter() - t0)
    result = {}
    for name, fn in fns.items():
        tracemalloc.start()
        fn(folder)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        result[name] = (min(times[name]), statistics.median(times[name]), peak / 2**20, outs[name])
    return result


def corpus_times(top: int) -> None:
    """read_scan wall time for every file of pydicom's test data and pydicom-data (slowest first)."""
    import glob

    import pydicom
    from pydicom.data import get_testdata_files

    from medgan.io import ScanError, read_scan

    store = os.path.join(os.path.dirname(os.path.dirname(pydicom.__file__)), "data_store", "data")
    files = sorted({os.path.realpath(f) for f in get_testdata_files()} |
                   {os.path.realpath(f) for f in glob.glob(os.path.join(store, "*"))})
    rows = []
    for f in files:
        t0 = time.perf_counter()
        try:
            read_scan(f)
            outcome = "loaded"
        except ScanError:
            outcome = "ScanError"
        rows.append((time.perf_counter() - t0, outcome, os.path.basename(f)))
    rows.sort(reverse=True)
    print(f"corpus: {len(rows)} files, total {sum(r[0] for r in rows):.1f} s, "
          f"loaded {sum(r[1] == 'loaded' for r in rows)}, ScanError {sum(r[1] == 'ScanError' for r in rows)}")
    for dt, outcome, name in rows[:top]:
        print(f"  {dt:6.2f} s  {outcome:9s}  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--corpus", action="store_true", help="also time every pydicom test file")
    args = parser.parse_args()
    if args.corpus:
        corpus_times(top=8)
    with tempfile.TemporaryDirectory(prefix="medgan-io-bench-") as tmp:
        folder = Path(tmp)
        build_series(folder, args.slices)
        size = sum(f.stat().st_size for f in folder.iterdir()) / 2**20
        print(f"series: {args.slices} slices × 512×512 int16, {size:.1f} MiB on disk")
        res = measure({"plain pydicom (dcmread + ds.pixel_array + rescale)": plain_pydicom,
                       "tuned pydicom (pixels.pixel_array, preallocated)": tuned_pydicom,
                       "medgan read_scan": medgan_read}, folder, args.repeats)
        (plain, tuned, ours) = res.values()
        assert ours[3].shape == plain[3].shape and np.array_equal(ours[3], plain[3]), "read_scan disagrees"
        assert np.array_equal(tuned[3], plain[3])
        for name, (t_min, t_med, peak, _) in res.items():
            print(f"{name:52s} min {t_min * 1000:7.1f} ms  median {t_med * 1000:7.1f} ms  peak {peak:6.1f} MiB")
        print(f"read_scan / plain: time {ours[0] / plain[0]:.2f} (min) {ours[1] / plain[1]:.2f} (median), "
              f"memory {ours[2] / plain[2]:.2f};  read_scan / tuned: time {ours[0] / tuned[0]:.2f} (min) "
              f"{ours[1] / tuned[1]:.2f} (median), memory {ours[2] / tuned[2]:.2f};  target ≤ 1.20 vs plain")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
