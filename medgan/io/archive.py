"""Safe zip extraction: no path traversal, no links, no zip bombs (size and ratio limits, streamed counting)."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path, PurePosixPath

from medgan.io.limits import DEFAULT_LIMITS, ReadLimits, human_bytes
from medgan.io.scan import ScanError

_SKIP_PREFIXES = ("__MACOSX/",)
_SKIP_NAMES = (".DS_Store", "Thumbs.db", "desktop.ini")
_CHUNK = 1 << 20


def _safe_name(name: str) -> PurePosixPath | None:
    """Relative member path, or None when it escapes the destination."""
    norm = name.replace("\\", "/")
    p = PurePosixPath(norm)
    if p.is_absolute() or norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        return None
    if any(part == ".." for part in p.parts):
        return None
    return p


def safe_extract(zip_path: str | os.PathLike[str], dest: str | os.PathLike[str], limits: ReadLimits | None = None,
                 error: type[Exception] = ScanError, too_large: type[Exception] | None = None) -> list[Path]:
    """Extract ``zip_path`` into ``dest``; returns the extracted files.

    Raises ``error`` (ScanError by default) for a file that is not a zip, encrypted members, absolute or
    ``..`` paths, symbolic links, more than ``limits.max_files`` members, a total uncompressed size above
    ``limits.max_archive_bytes`` or a member compressed more than ``limits.max_archive_ratio`` times; the three
    size limits (files, declared bytes, bytes counted while extracting) raise ``too_large`` when it is given.
    """
    limits = limits or DEFAULT_LIMITS
    too_large = too_large or error
    src = str(zip_path)
    accepted = (f"accepted: a zip of at most {limits.max_files} files and {human_bytes(limits.max_archive_bytes)} "
                "uncompressed, with plain relative paths")
    dest_path = Path(dest).resolve()
    dest_path.mkdir(parents=True, exist_ok=True)
    try:
        zf = zipfile.ZipFile(src)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise error(f"{src}: is not a readable zip archive ({exc}); {accepted}") from exc
    out: list[Path] = []
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > limits.max_files:
            raise too_large(f"{src}: holds {len(infos):,} files, more than the limit of {limits.max_files:,}; "
                            f"{accepted}")
        declared = sum(i.file_size for i in infos)
        if declared > limits.max_archive_bytes:
            raise too_large(f"{src}: unpacks to {human_bytes(declared)}, over the limit of "
                        f"{human_bytes(limits.max_archive_bytes)}; {accepted}")
        written = 0
        for info in infos:
            name = info.filename
            if name.startswith(_SKIP_PREFIXES) or PurePosixPath(name).name in _SKIP_NAMES:
                continue
            rel = _safe_name(name)
            if rel is None:
                raise error(f"{src}: member {name!r} points outside the archive folder (path traversal); {accepted}")
            mode = (info.external_attr >> 16) & 0xFFFF
            if stat.S_ISLNK(mode):
                raise error(f"{src}: member {name!r} is a symbolic link; {accepted}")
            if info.flag_bits & 0x1:
                raise error(f"{src}: member {name!r} is encrypted; {accepted}")
            if info.file_size > 1_000_000 and info.file_size > limits.max_archive_ratio * max(info.compress_size, 1):
                raise error(f"{src}: member {name!r} expands {info.file_size / max(info.compress_size, 1):.0f}× "
                            f"(limit {limits.max_archive_ratio:.0f}×), a likely zip bomb; {accepted}")
            target = (dest_path / rel).resolve()
            if dest_path not in target.parents:
                raise error(f"{src}: member {name!r} points outside the archive folder (path traversal); {accepted}")
            target.parent.mkdir(parents=True, exist_ok=True)
            member_bytes = 0
            try:
                with zf.open(info) as fin, open(target, "wb") as fout:
                    while chunk := fin.read(_CHUNK):
                        member_bytes += len(chunk)
                        written += len(chunk)
                        if member_bytes > info.file_size:
                            raise error(f"{src}: member {name!r} unpacks to more than the "
                                        f"{human_bytes(info.file_size)} it declares (a damaged or forged zip); "
                                        f"{accepted}")
                        if written > limits.max_archive_bytes:
                            raise too_large(f"{src}: unpacks to more than {human_bytes(written)} (counted while "
                                        f"extracting), over the limit of {human_bytes(limits.max_archive_bytes)}; "
                                        f"{accepted}")
                        fout.write(chunk)
            except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
                raise error(f"{src}: member {name!r} is corrupt or uses an unsupported compression ({exc}); "
                            f"{accepted}") from exc
            out.append(target)
    return out
