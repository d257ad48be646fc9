"""Plain data types of a Turing-test study (options and rendered case records)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class StudyOptions:
    """Study design. ``n_cases`` scored cases, ``real_fraction`` of them real; ``n_practice`` extra practice cases
    shown first (with feedback when ``practice_feedback``); ``time_limit_s`` per case (None = no limit; late
    votes are kept but flagged and left out of the scores); ``allow_revisit`` lets readers go back and change a
    vote; ``show_score`` shows a reader their accuracy at the end; ``confidence`` asks for a 1–5 confidence."""

    n_cases: int = 100
    real_fraction: float = 0.5
    seed: int = 0
    confidence: bool = True
    n_practice: int = 0
    practice_feedback: bool = True
    time_limit_s: float | None = None
    allow_revisit: bool = False
    show_score: bool = True

    def validate(self) -> None:
        if not 2 <= self.n_cases <= 2000:
            raise ValueError(f"n_cases must be between 2 and 2000, got {self.n_cases}")
        if not 0.0 <= self.real_fraction <= 1.0:
            raise ValueError(f"real_fraction must be in [0, 1], got {self.real_fraction}")
        if not 0 <= self.n_practice <= 50:
            raise ValueError(f"n_practice must be between 0 and 50, got {self.n_practice}")
        if self.time_limit_s is not None and self.time_limit_s <= 0:
            raise ValueError("time_limit_s must be positive (or None for no limit)")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> StudyOptions:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class CaseRecord:
    """One rendered case: ``png`` canonical bytes; ``truth`` "real" | "generated"; ``source`` the checkpoint or real
    set name; ``source_ref`` e.g. a slice index or file name (admin only)."""

    case_key: str
    truth: str
    source: str
    source_ref: str
    practice: bool
    sha256: str
    png: bytes


@dataclass(frozen=True)
class StudyInfo:
    id: int
    name: str
    status: str
    options: StudyOptions
    description: str
    created_at: float
    design: dict | None = None  # seed commitment, sources, presentation check (admin only)


@dataclass(frozen=True)
class Reader:
    id: int
    study_id: int
    label: str
    kind: str
    locked_at: float | None = None  # answers final: no more changes, the score may be shown


@dataclass(frozen=True)
class ServedCase:
    """What a reader may see: an opaque token, the canonical PNG, the position; never the truth or source."""

    token: str
    png: bytes
    position: int  # 0-based over all of the reader's cases (practice first)
    total: int
    n_practice: int
    practice: bool
    served_at: float
    previous_vote: str | None = None
    previous_confidence: int | None = None


@dataclass(frozen=True)
class VoteResult:
    accepted: bool  # False when the vote already existed (duplicate / retry)
    time_ms: int | None
    timed_out: bool
    practice_truth: str | None  # only for practice cases (feedback)
    finished: bool
