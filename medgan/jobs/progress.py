"""Read a run's ``metrics.jsonl`` (written by ``python -m medgan train``) incrementally.

Records, one JSON object per line: ``start`` (device, device_name, total_steps), ``step`` (step, total,
losses, it_s, imgs_s, eta_s), ``val`` (step, metrics), ``sample`` (step, path), ``checkpoint`` (step, path),
``end`` (status, reason). A half-written last line is left for the next read. Readers are cached per file so
each refresh only parses the new bytes.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAX_POINTS = 4000  # loss points kept per run (older ones are thinned)


@dataclass
class Progress:
    """What a run has reported so far."""

    start: dict[str, Any] | None = None
    steps: list[int] = field(default_factory=list)
    losses: dict[str, list[float | None]] = field(default_factory=dict)
    last_step: dict[str, Any] | None = None
    vals: list[dict[str, Any]] = field(default_factory=list)
    sample: str | None = None
    sample_step: int | None = None
    checkpoint_step: int | None = None
    end: dict[str, Any] | None = None
    end_index: int = 0
    records: int = 0

    @property
    def step(self) -> int:
        return int(self.last_step["step"]) if self.last_step else 0

    @property
    def total(self) -> int:
        if self.last_step and self.last_step.get("total"):
            return int(self.last_step["total"])
        return int((self.start or {}).get("total_steps") or 0)

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly digest (no loss series)."""
        last = self.last_step or {}
        return {
            "step": self.step, "total": self.total,
            "losses": last.get("losses", {}), "it_s": last.get("it_s"), "imgs_s": last.get("imgs_s"),
            "eta_s": last.get("eta_s"),
            "device": (self.start or {}).get("device"), "device_name": (self.start or {}).get("device_name"),
            "val": self.vals[-1] if self.vals else None,
            "sample": self.sample, "sample_step": self.sample_step, "checkpoint_step": self.checkpoint_step,
            "end": self.end,
        }


class MetricsReader:
    """Incremental parser of one ``metrics.jsonl``; handles truncation (a fresh run) by starting over."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.offset = 0
        self.progress = Progress()
        self._lock = threading.Lock()

    def read(self) -> Progress:
        with self._lock:
            try:
                size = self.path.stat().st_size
            except FileNotFoundError:
                return self.progress
            if size < self.offset:
                self.offset, self.progress = 0, Progress()
            if size == self.offset:
                return self.progress
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read(size - self.offset)
            end = chunk.rfind(b"\n")
            if end < 0:
                return self.progress
            self.offset += end + 1
            for line in chunk[: end + 1].splitlines():
                if line.strip():
                    try:
                        self._add(json.loads(line))
                    except (ValueError, TypeError, KeyError) as exc:
                        log.debug("skipping metrics line in %s: %s", self.path, exc)
            return self.progress

    def _add(self, rec: dict[str, Any]) -> None:
        p = self.progress
        p.records += 1
        kind = rec.get("type")
        if kind == "start":
            p.start = rec
            p.end = None  # a resumed run appends a new start after the previous end
        elif kind == "step":
            p.last_step = rec
            step = int(rec["step"])
            while p.steps and p.steps[-1] >= step:  # a resume replays steps after the last checkpoint
                p.steps.pop()
                for series in p.losses.values():
                    series.pop()
            n = len(p.steps)
            p.steps.append(step)
            for key, value in (rec.get("losses") or {}).items():
                series = p.losses.setdefault(key, [None] * n)
                series.append(float(value) if value is not None else None)
            for series in p.losses.values():
                if len(series) < n + 1:
                    series.append(None)
            if len(p.steps) > MAX_POINTS:
                p.steps = p.steps[::2]
                for key in p.losses:
                    p.losses[key] = p.losses[key][::2]
        elif kind == "val":
            split = {"split": rec["split"]} if rec.get("split") else {}  # test / parent / after (readout)
            p.vals.append({"step": int(rec.get("step", 0)), **split, **(rec.get("metrics") or {})})
        elif kind == "sample":
            p.sample, p.sample_step = rec.get("path"), rec.get("step")
        elif kind == "checkpoint":
            p.checkpoint_step = rec.get("step")
        elif kind == "end":
            p.end, p.end_index = rec, p.records


_READERS: dict[str, MetricsReader] = {}
_READERS_LOCK = threading.Lock()


def read_progress(out_dir: str | Path) -> Progress:
    """The progress of the run writing into ``out_dir`` (cached reader; cheap to call every second)."""
    path = Path(out_dir) / "metrics.jsonl"
    key = str(path)
    with _READERS_LOCK:
        reader = _READERS.get(key)
        if reader is None:
            reader = _READERS[key] = MetricsReader(path)
    return reader.read()


def last_end(out_dir: str | Path) -> dict[str, Any] | None:
    """The ``end`` record of the latest run in ``out_dir``, or None if it has not ended (or died)."""
    return read_progress(out_dir).end
