"""Study creation from a real (tiny, untrained) generation checkpoint, reader-facing service rules (revisit, time
limit, practice feedback, end score) and the signed-in reader path."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import numpy as np
import pytest

from medgan.db import medgan_home
from medgan.turing import service
from medgan.turing.store import StudyError
from medgan.turing.study import array_source, create_study, embedded_real
from medgan.turing.study_types import StudyOptions

CKPT = "tiny_dcgan_turing_test"


def _tiny_generation_checkpoint() -> None:
    import torch

    from medgan.checkpoints import save_checkpoint as save_model
    from medgan.models.registry import build_generator

    torch.manual_seed(0)
    args = {"z_dim": 16, "image_size": 64, "num_classes": 4, "ngf": 8}
    gen = build_generator("dcgan", **args).eval()
    card = {"name": CKPT, "summary": "tiny untrained DCGAN for tests", "task": "generation", "family": "dcgan",
            "generator": {"name": "dcgan", "args": args}, "image_size": 64, "in_channels": 16,
            "out_channels": 5, "label_classes": ["background", "CSF", "grey matter", "white matter"],
            "z_dim": 16, "turing": None}
    save_model(medgan_home() / "checkpoints", gen, None, card, stem=CKPT)


def test_study_from_generation_checkpoint_and_card_write() -> None:
    from medgan.turing.results import write_model_cards

    _tiny_generation_checkpoint()
    store = service.get_store()
    info = create_study("ckpt-study", StudyOptions(n_cases=12, seed=4, n_practice=2), real=embedded_real(),
                        generated=[CKPT], store=store)
    table = store.case_table(info.id)
    gen = [c for c in table if c["truth"] == "generated"]
    assert len(gen) == 7 and {c["source"] for c in gen} == {CKPT}
    assert len({len(store.case_png(c["case_key"])) for c in table}) == 1  # 64 px generator, 256 px real: same file
    (_, code), = store.issue_codes(info.id, 1)
    reader = store.reader_by_code(info.id, code)
    while (case := store.next_case(reader)) is not None:
        store.submit_vote(reader, case.token, "generated", 4)
    written = write_model_cards(store, info.id)
    assert written == [medgan_home() / "checkpoints" / f"{CKPT}.json"]
    card = json.loads(written[0].read_text())
    assert card["turing"]["study"] == "ckpt-study" and card["turing"]["checkpoint_detected"] == 1.0
    assert card["task"] == "generation"  # the rest of the card is kept


def _small_study(name: str, **opts) -> tuple:  # noqa: ANN003
    rng = np.random.default_rng(len(name))
    store = service.get_store()
    info = create_study(name, StudyOptions(n_cases=4, seed=2, **opts),
                        real=array_source("r", rng.random((6, 32, 32), dtype=np.float32), "real"),
                        generated=[array_source("g", rng.random((6, 32, 32), dtype=np.float32), "generated")],
                        store=store)
    return store, info


def test_revisit_time_limit_and_end_score() -> None:
    store, info = _small_study("svc-revisit", allow_revisit=True, time_limit_s=0.05, n_practice=2)
    reader = store.reader_by_code(info.id, store.issue_codes(info.id, 1)[0][1])
    view = service.current_view(store, reader)
    assert view.progress.startswith("Practice case 1 of 2") and view.revisit
    with pytest.raises(StudyError, match="confidence"):
        service.vote(store, reader, view.token, "real", None)
    view = service.vote(store, reader, view.token, "real", 2)
    assert view.message.startswith("Practice feedback: this image was")
    view = service.vote(store, reader, view.token, "real", 2)
    assert view.progress.startswith("Case 1 of 4")
    time.sleep(0.08)
    view = service.vote(store, reader, view.token, "generated", 5)
    assert "Time limit exceeded" in view.message
    back = service.previous_view(store, reader, view.position)
    assert "your answer: generated" in back.progress
    service.vote(store, reader, back.token, "real", 1)  # changed answer (revisit allowed)
    rows = store.vote_rows(info.id)
    assert [r["vote"] for r in rows] == ["real"] and rows[0]["timed_out"]
    view = service.current_view(store, reader)
    while not view.finished:
        view = service.vote(store, reader, view.token, "real", 3)
    assert store.count_votes(info.id) == 6
    # every case answered but answers still changeable: no score (flipping answers and reading the score would
    # reveal the truth case by case), only the offer to lock
    assert view.can_lock and "score" not in view.message.lower()
    with pytest.raises(StudyError, match="locked"):
        store.reader_score(reader)
    back = service.previous_view(store, reader, view.position)
    again = service.vote(store, reader, back.token, "generated", 3)
    assert again.finished and "score" not in again.message.lower()
    end = service.lock(store, reader)
    assert "Study complete" in end.message and "Your score" in end.message and not end.can_lock
    # a locked study refuses changes
    with pytest.raises(StudyError, match="locked"):
        service.previous_view(store, reader, end.position)
    with pytest.raises(StudyError, match="locked"):
        store.submit_vote(reader, back.token, "real", 3, replace=True)
    assert [r["vote"] for r in store.vote_rows(info.id)][-1] == "generated"


def test_score_flipping_attack_recovers_nothing() -> None:
    """The attack on the old end screen: flip one answer, read the score, learn that case's truth."""
    store, info = _small_study("svc-flip", allow_revisit=True, show_score=True)
    reader = store.reader_by_code(info.id, store.issue_codes(info.id, 1)[0][1])
    view = service.current_view(store, reader)
    while not view.finished:
        view = service.vote(store, reader, view.token, "real", 3)
    screens = {view.message}
    for pos in range(4):
        case = service.previous_view(store, reader, pos + 1)
        screens.add(service.vote(store, reader, case.token, "generated", 3).message)
    assert len(screens) == 1 and not any(ch.isdigit() for ch in screens.pop())  # the same screen, no number


def test_no_revisit_and_hidden_score() -> None:
    store, info = _small_study("svc-strict", show_score=False, confidence=False)
    reader = store.reader_by_code(info.id, store.issue_codes(info.id, 1)[0][1])
    view = service.current_view(store, reader)
    assert not view.revisit
    with pytest.raises(StudyError, match="going back"):
        service.previous_view(store, reader, 1)
    while not view.finished:
        view = service.vote(store, reader, view.token, "real", None)
    assert "Study complete" in view.message and "score" not in view.message


def test_signed_in_reader_and_closed_study() -> None:
    from medgan.ui import turing_tab

    store, info = _small_study("svc-auth")
    out = turing_tab.reader_start("svc-auth", None, SimpleNamespace(username="dr.alice"))
    assert out[0] is not None and "Case 1 of 4" in out[4] and out[2]
    again = turing_tab.reader_start("svc-auth", None, SimpleNamespace(username="dr.alice"))
    assert again[2] == out[2]  # same reader, same first unanswered case
    missing = turing_tab.reader_start(None, "", SimpleNamespace(username=None))
    assert missing[0] is None and "reader code" in missing[5]
    store.set_status(info.id, "closed")
    closed = turing_tab.reader_start("svc-auth", None, SimpleNamespace(username="dr.alice"))
    assert "closed" in closed[5]
