"""Safety limits applied by every reader before anything large is allocated or decoded."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReadLimits:
    """Upper bounds for one :func:`medgan.io.read_scan` call.

    max_voxels: voxels in the returned volume (all slices/frames together).
    max_decompressed_bytes: bytes of decoded pixel data (all samples, before conversion to float32).
    max_file_bytes: size of any single input file (including archives).
    max_files: files considered in a folder, list or archive.
    max_archive_bytes: total uncompressed size of an archive's members.
    max_archive_ratio: largest uncompressed/compressed ratio accepted for an archive member.
    """

    max_voxels: int = 400_000_000
    max_decompressed_bytes: int = 2 * 1024**3
    max_file_bytes: int = 2 * 1024**3
    max_files: int = 5000
    max_archive_bytes: int = 2 * 1024**3
    max_archive_ratio: float = 200.0


DEFAULT_LIMITS = ReadLimits()

MIN_SIDE = 32  # px: the smallest side of an image or label map the tasks accept (API and Studio)


def check_min_side(height: int, width: int, what: str = "image") -> None:
    """ValueError naming the size found and the minimum when a side of an (H, W) plane is under MIN_SIDE."""
    if min(int(height), int(width)) < MIN_SIDE:
        raise ValueError(f"the {what} is {int(height)}×{int(width)} px; images and label maps must be at least "
                         f"{MIN_SIDE}×{MIN_SIDE} px")


def human_bytes(n: float) -> str:
    """'1.5 GiB' style rendering for messages."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
