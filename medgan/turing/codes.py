"""Reader codes (random, stored hashed), the random order of a reader's cases, and the error a study raises for a request it cannot accept."""

from __future__ import annotations

import hashlib
import secrets

import numpy as np

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


class StudyError(ValueError):
    """A request the study cannot accept (unknown study/token, closed study, bad vote)."""


def hash_code(code: str) -> str:
    """Normalised reader code → stored key (codes are random, 60 bits; stored hashed)."""
    norm = "".join(ch for ch in code.upper() if ch.isalnum())
    return "code:" + hashlib.sha256(norm.encode()).hexdigest()


def new_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def reader_rng(secret: bytes | None, seed: int, reader_key: str) -> np.random.Generator:
    """The random generator of one reader's case order: from the study's secret (or, for studies made before the
    per-study secret, its seed) and the reader."""
    digest = int.from_bytes(hashlib.sha256(reader_key.encode()).digest()[:8], "big")
    if secret is not None:
        return np.random.default_rng([int.from_bytes(hashlib.sha256(secret + b"/order").digest()[:8], "big"), digest])
    return np.random.default_rng([seed & 0xFFFFFFFF, digest])
