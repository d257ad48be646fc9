"""``python -m medgan turing ...`` in-process: codes, close/reopen, results, export, list, and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from medgan.cli import main
from medgan.turing.service import get_store
from medgan.turing.study import array_source, create_study
from medgan.turing.study_types import StudyOptions


def test_cli_study_lifecycle(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    store = get_store()
    rng = np.random.default_rng(9)
    info = create_study("cli-study", StudyOptions(n_cases=8, seed=1),
                        real=array_source("r", rng.random((8, 32, 32), dtype=np.float32), "real"),
                        generated=[array_source("g", rng.random((8, 32, 32), dtype=np.float32), "generated")],
                        store=store)
    assert main(["turing", "codes", "cli-study", "-n", "2"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2 and out[0].startswith("R01\t")
    reader = store.reader_by_code(info.id, out[0].split("\t")[1])
    while (case := store.next_case(reader)) is not None:
        store.submit_vote(reader, case.token, "real", 3)
    assert main(["turing", "close", "cli-study"]) == 0
    assert store.get_study("cli-study").status == "closed"
    assert main(["turing", "reopen", "cli-study"]) == 0
    assert store.get_study("cli-study").status == "open"
    capsys.readouterr()
    assert main(["turing", "results", "cli-study"]) == 0
    text = capsys.readouterr().out
    assert "1 readers, 8 scored votes" in text and "MRMC accuracy 50.0 %" in text
    assert main(["turing", "results", "cli-study", "--json"]) == 0
    assert '"accuracy": 0.5' in capsys.readouterr().out
    assert main(["turing", "export", "cli-study", "--out", str(tmp_path)]) == 0
    assert len(pd.read_csv(tmp_path / "cli-study_votes.csv")) == 8
    assert main(["turing", "list"]) == 0
    assert "cli-study" in capsys.readouterr().out


def test_cli_errors_are_messages(capsys) -> None:  # noqa: ANN001
    assert main(["turing", "codes", "no-such-study"]) == 2
    assert "no study" in capsys.readouterr().err
    assert main(["turing", "create", "x", "--checkpoint", "no_such_checkpoint", "--cases", "4"]) == 2
    assert "no_such_checkpoint" in capsys.readouterr().err
