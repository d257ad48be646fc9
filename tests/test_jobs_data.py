"""Uploaded training zips: preview (counts, image sizes, label values, pairs over the class colours), the size
limit (compressed, declared and counted while extracting; nothing kept on disk when refused), one extraction per
zip, and removal of the data once the job that asked for it has finished. Real zip files built here (PNG pairs,
ACDC-style NIfTI pairs written with nibabel), a real SQLite job store and a real 2-step training run."""

from __future__ import annotations

import io
import os
import struct
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine

from medgan.data.phantoms import phantom
from medgan.jobs.data import (
    UPLOAD_LIMIT_ENV,
    DataChoiceError,
    prepare_upload,
    preview_upload,
    release_upload,
    sweep_uploads,
    upload_folder,
    uploads_dir,
)


@pytest.fixture()
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("MEDGAN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(UPLOAD_LIMIT_ENV, raising=False)
    return tmp_path / "home"


def _png(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def png_zip(path: Path, n: int = 6, size: int = 48, wrapper: str = "my_scans/") -> Path:
    """``n`` phantom PNG pairs in images/ + masks/ inside a wrapping folder, as a user's zip often is."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(n):
            img, lab = phantom(size, seed=i)
            z.writestr(f"{wrapper}images/case{i:02d}.png", _png((img * 255).astype(np.uint8)))
            z.writestr(f"{wrapper}masks/case{i:02d}.png", _png(lab))
    return path


def nifti_zip(path: Path, n: int = 4, size: int = 40, depth: int = 3) -> Path:
    """``n`` ACDC-style NIfTI pairs (patientXXX/patientXXX_frame01.nii.gz + ``_gt``), written with nibabel."""
    import nibabel as nib

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(n):
            vols = [phantom(size, seed=10 * i + k) for k in range(depth)]
            img = np.stack([v[0] for v in vols], -1).astype(np.float32) * 800.0
            lab = np.stack([v[1] for v in vols], -1).astype(np.uint8)
            lab[..., 0] = 0  # an unlabelled slice: not counted, not previewed
            for name, arr in ((f"patient{i:03d}_frame01", img), (f"patient{i:03d}_frame01_gt", lab)):
                buf = io.BytesIO()
                nii = nib.Nifti1Image(arr, np.diag([1.5, 1.5, 8.0, 1.0]))
                nib.save(nii, path.parent / "tmp.nii.gz")
                buf.write((path.parent / "tmp.nii.gz").read_bytes())
                z.writestr(f"patient{i:03d}/{name}.nii.gz", buf.getvalue())
    (path.parent / "tmp.nii.gz").unlink()
    return path


def _leftovers(home: Path) -> list[str]:
    base = home / "uploads"
    return sorted(p.name for p in base.iterdir()) if base.exists() else []


def test_png_pairs_preview_counts_sizes_labels_and_pairs(home, tmp_path):
    from medgan.ui.common import PALETTE
    from medgan.ui.train_data_view import pair_picture, preview_markdown

    z = png_zip(tmp_path / "scans.zip")
    p = preview_upload(z, num_classes=4)
    assert (p.layout, p.cases, p.slices) == ("png", 6, 6)
    assert p.image_sizes == {"48×48": 6} and 0 in p.label_values and set(p.label_values) <= {0, 1, 2, 3}
    assert len(p.pairs) == 4 and {case for case, _, _ in p.pairs} <= {f"case{i:02d}" for i in range(6)}
    case, img, lab = p.pairs[0]
    assert img.shape == lab.shape == (48, 48) and img.dtype == np.float32 and 0 <= img.min() <= img.max() <= 1
    assert lab.dtype == np.uint8 and lab.max() > 0
    md = preview_markdown(p, 4)
    assert "6 case(s)" in md and "48×48 (6 cases)" in md and "label values found: 0, " in md
    pic = pair_picture(img, lab)  # the image | the image with its labels in the class colours
    k = pic.shape[0] // 48
    assert pic.dtype == np.uint8 and pic.shape == (48 * k, (2 * 48 + 4) * k, 3)
    left, right = pic[::k, : 48 * k : k].astype(int), pic[::k, -48 * k :: k].astype(int)
    for v in np.unique(lab[lab > 0]):
        colour = np.array(PALETTE[int(v)])
        assert np.abs(right[lab == v] - colour).mean() < np.abs(left[lab == v] - colour).mean()
    assert (right[lab == 0] == left[lab == 0]).all()  # background stays the grey image

    # the data root is inside the upload folder, and a second call (the job's start) reuses the extraction
    first = Path(p.choice.arg)
    assert first.name == "my_scans" and upload_folder(str(first)).parent == uploads_dir().resolve()
    again = prepare_upload(z, num_classes=4)
    assert again.arg == p.choice.arg and "6 case(s)" in again.description and "'scans.zip'" in again.description
    assert len(_leftovers(home)) == 1


def test_nifti_pairs_preview_the_labelled_slices(home, tmp_path):
    z = nifti_zip(tmp_path / "acdc.zip")
    p = preview_upload(z, num_classes=4)
    assert (p.layout, p.cases, p.slices) == ("acdc", 4, 8)  # 2 labelled slices of 3 per case
    assert p.image_sizes == {"3×40×40": 4}
    assert set(p.label_values) <= {0, 1, 2, 3} and 0 in p.label_values and max(p.label_values) > 0
    assert len(p.pairs) == 4 and all(lab.max() > 0 for _, _, lab in p.pairs)  # a labelled slice each


def test_too_few_labels_classes_for_the_run_are_refused_and_nothing_is_kept(home, tmp_path):
    z = png_zip(tmp_path / "scans.zip")
    with pytest.raises(DataChoiceError, match=r"not valid for 2 classes"):
        preview_upload(z, num_classes=2)
    assert _leftovers(home) == []


@pytest.mark.parametrize("what", ["not a zip", "missing masks", "path traversal"])
def test_bad_zips_are_refused_in_plain_words_and_leave_nothing(home, tmp_path, what):
    path = tmp_path / "bad.zip"
    if what == "not a zip":
        path.write_bytes(b"PK\x03\x04 but not really a zip")
        match = "not a readable zip"
    else:
        with zipfile.ZipFile(path, "w") as z:
            for i in range(5):
                z.writestr(f"images/{i}.png", _png(np.zeros((40, 40), np.uint8)))
            if what == "path traversal":
                z.writestr("../escape.txt", b"x")
        match = "found images/ but not its partner folder" if what == "missing masks" else "path traversal"
    with pytest.raises(DataChoiceError, match=match) as err:
        preview_upload(path, num_classes=4)
    assert str(tmp_path) not in str(err.value)  # the server's folders are not shown
    assert _leftovers(home) == [] and not (tmp_path.parent / "escape.txt").exists()


def test_the_size_limit_names_the_limit_and_the_size_found(home, tmp_path, monkeypatch):
    monkeypatch.setenv(UPLOAD_LIMIT_ENV, "1")  # 1 MiB
    big = tmp_path / "big.zip"  # incompressible: the zip itself is over the limit
    with zipfile.ZipFile(big, "w", zipfile.ZIP_STORED) as z:
        z.writestr("images/noise.bin", np.random.default_rng(0).bytes(1_300_000))
    with pytest.raises(DataChoiceError) as err:
        preview_upload(big)
    assert "too large" in str(err.value) and "1.2 MiB" in str(err.value) and "limit of 1.0 MiB" in str(err.value)
    assert UPLOAD_LIMIT_ENV in str(err.value)

    packed = tmp_path / "packed.zip"  # small on disk, 2 MiB once unpacked (declared in the zip's directory)
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(40):
            z.writestr(f"images/{i}.raw", bytes(52_429))
    assert packed.stat().st_size < 100_000
    with pytest.raises(DataChoiceError, match=r"too large: it unpacks to 2\.0 MiB, over the limit of 1\.0 MiB"):
        preview_upload(packed)
    assert _leftovers(home) == []


def test_a_zip_that_understates_its_sizes_is_stopped_while_extracting(home, tmp_path, monkeypatch):
    """The declared sizes pass the limit, the data does not: the extraction counts bytes and stops."""
    monkeypatch.setenv(UPLOAD_LIMIT_ENV, "1")
    path = tmp_path / "forged.zip"
    payload = bytes(3 * 1024 * 1024)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("images/a.raw", payload)
    data = bytearray(path.read_bytes())
    forged = struct.pack("<I", 1000)
    local = data.index(b"PK\x03\x04")
    data[local + 22: local + 26] = forged  # the local header's uncompressed size
    central = data.index(b"PK\x01\x02")
    data[central + 24: central + 28] = forged  # and the central directory's
    path.write_bytes(bytes(data))
    assert sum(i.file_size for i in zipfile.ZipFile(path).infolist()) == 1000
    with pytest.raises(DataChoiceError, match="cannot be used|too large"):
        preview_upload(path)
    assert _leftovers(home) == []


def test_release_and_sweep_remove_only_what_no_job_uses(home, tmp_path):
    a = prepare_upload(png_zip(tmp_path / "a.zip"), 4)
    b = prepare_upload(png_zip(tmp_path / "b.zip", n=5), 4)
    assert not release_upload(a.arg, [a.arg])  # another job still uses it
    assert not release_upload("embedded", []) and not release_upload(str(tmp_path), [])  # not an upload
    assert release_upload(a.arg, [b.arg]) and not Path(a.arg).exists()
    c = prepare_upload(png_zip(tmp_path / "c.zip", n=4), 4)
    old = time.time() - 2 * 24 * 3600
    for folder in (upload_folder(b.arg), upload_folder(c.arg)):
        os.utime(folder, (old, old))
    assert sweep_uploads([c.arg]) == [upload_folder(b.arg).name]  # b: old and unused; c: used by a job
    assert Path(c.arg).exists() and not Path(b.arg).exists()


def test_a_finished_job_removes_its_upload_once_no_other_job_needs_it(home, tmp_path):
    from medgan.jobs.scheduler import Scheduler
    from medgan.jobs.spec import JobSpec
    from medgan.jobs.store import JobStore

    data = prepare_upload(png_zip(tmp_path / "scans.zip", size=32), 4)
    sched = Scheduler(store=JobStore(create_engine(f"sqlite:///{tmp_path / 'jobs.db'}")), home=home, gpus=[])

    def spec(name: str, remove: bool) -> JobSpec:
        return JobSpec(task="synthesis", arch="pix2pix", data=data.arg, data_desc=data.description, steps=2,
                       batch_size=2, image_size=32, device="cpu", name=name, remove_data=remove)

    keep = sched.submit(spec("keeps_upload", False))  # runs first, on the only (CPU) slot
    drop = sched.submit(spec("drops_upload", True))  # waits, then asks for the removal
    kept_while_queued = None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        sched.tick()
        a, b = sched.store.get(keep.id), sched.store.get(drop.id)
        if a.status == "finished" and kept_while_queued is None:
            kept_while_queued = Path(data.arg).exists()
        if b.status not in ("queued", "running"):
            break
        time.sleep(0.2)
    assert sched.store.get(keep.id).status == "finished", sched.store.get(keep.id).reason
    assert sched.store.get(drop.id).status == "finished", sched.store.get(drop.id).reason
    assert kept_while_queued  # the first job did not ask, and the second still needed it
    assert not upload_folder(data.arg).exists() and _leftovers(home) == []  # removed after the second
    assert sched.store.get(drop.id).published == "drops_upload"  # the model is published all the same
    from medgan.jobs.view import status_markdown

    assert "the uploaded data has been removed" in status_markdown(sched.store.get(drop.id), None)
    assert "removed" not in status_markdown(sched.store.get(keep.id), None)  # it did not ask
    with pytest.raises(ValueError, match="only cancelled or failed"):
        sched.resume(drop.id)
