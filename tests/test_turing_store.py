"""Vote store on a real SQLite file and a real PostgreSQL server: concurrency, idempotency, resume, close."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from medgan.db import get_engine
from medgan.turing.store import StudyError, TuringStore
from medgan.turing.study import array_source, create_study
from medgan.turing.study_types import StudyOptions
from tests.pg_server import PgServer, pg_or_skip_reason

N_READERS, N_CASES = 32, 50


@pytest.fixture(scope="module")
def pg_url():
    reason = pg_or_skip_reason()
    if reason:
        pytest.skip(reason)
    server = PgServer().start()
    yield server.url
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path: Path) -> TuringStore:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'turing.db'}"
    else:
        url = request.getfixturevalue("pg_url")
        eng = get_engine(url)
        with eng.begin() as conn:  # fresh schema per test
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        from medgan.turing.schema import forget_schema_cache

        forget_schema_cache()
    return TuringStore(get_engine(url))


def _sources(n: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    real = array_source("real-set", rng.random((n, 64, 64), dtype=np.float32), "real")
    gen = array_source("ckpt_a", rng.random((n, 64, 64), dtype=np.float32) * 0.5, "generated")
    return real, gen


def test_concurrent_readers_exactly_one_row_per_vote(store: TuringStore) -> None:
    real, gen = _sources()
    study = create_study("conc", StudyOptions(n_cases=N_CASES, seed=1), real=real, generated=[gen], store=store)
    readers = [store.reader_by_code(study.id, code) for _, code in store.issue_codes(study.id, N_READERS)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(N_READERS)

    def read(reader, k: int) -> None:
        try:
            barrier.wait()
            rng = np.random.default_rng(k)
            last = None
            for _ in range(N_CASES):
                case = store.next_case(reader)
                assert case is not None
                res = store.submit_vote(reader, case.token, str(rng.choice(["real", "generated"])),
                                        int(rng.integers(1, 6)))
                assert res.accepted
                if last is not None and rng.random() < 0.3:  # a retry / double click of the previous vote
                    assert not store.submit_vote(reader, last, "real", 1).accepted
                last = case.token
            assert store.next_case(reader) is None
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(r, i)) for i, r in enumerate(readers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not errors, errors[:3]
    assert store.count_votes(study.id) == N_READERS * N_CASES
    # the same tokens again, with fresh idempotency keys, still add nothing (unique (study, reader, case))
    rows = store.vote_rows(study.id)
    assert len(rows) == N_READERS * N_CASES
    table = store.reader_table(study.id)
    assert all(r["finished"] and r["answered"] == N_CASES for r in table)


def test_duplicate_and_idempotency(store: TuringStore) -> None:
    real, gen = _sources(10)
    study = create_study("dup", StudyOptions(n_cases=6, seed=2), real=real, generated=[gen], store=store)
    (_, code), = store.issue_codes(study.id, 1)
    reader = store.reader_by_code(study.id, code)
    case = store.next_case(reader)
    assert store.submit_vote(reader, case.token, "real", 2, idempotency_key="k1").accepted
    assert not store.submit_vote(reader, case.token, "generated", 5, idempotency_key="k1").accepted
    assert not store.submit_vote(reader, case.token, "generated", 5, idempotency_key="k2").accepted
    assert store.count_votes(study.id) == 1
    assert store.vote_rows(study.id)[0]["vote"] == "real"  # the first vote stands (no revisit)
    with pytest.raises(StudyError):
        store.submit_vote(reader, "not-a-token", "real", 3)
    with pytest.raises(StudyError):
        store.submit_vote(reader, case.token, "maybe", 3)


def test_resume_order_close_reopen(store: TuringStore) -> None:
    real, gen = _sources(10)
    study = create_study("resume", StudyOptions(n_cases=8, seed=3, n_practice=2), real=real, generated=[gen],
                         store=store)
    codes = store.issue_codes(study.id, 2)
    r1, r2 = (store.reader_by_code(study.id, c) for _, c in codes)
    first = store.next_case(r1)
    assert first.practice and first.position == 0 and first.total == 10
    assert store.next_case(r1).token == first.token  # not answered yet: same case again
    res = store.submit_vote(r1, first.token, "real", 3)
    assert res.practice_truth in ("real", "generated")  # practice: feedback allowed
    second = store.next_case(r1)
    assert second.position == 1
    store.submit_vote(r1, second.token, "real", 3)
    third = store.next_case(r1)
    assert third.position == 2 and not third.practice
    assert store.submit_vote(r1, third.token, "generated", 4).practice_truth is None  # scored: no truth
    # per-reader tokens differ, and the case order differs between readers (same case set)
    t1 = {store.case_at(r1, p).token for p in range(10)}
    t2 = {store.case_at(r2, p).token for p in range(10)}
    assert not t1 & t2
    # close: no votes; reopen: votes again
    store.set_status(study.id, "closed")
    nxt = store.next_case(r1)
    with pytest.raises(StudyError, match="closed"):
        store.submit_vote(r1, nxt.token, "real", 1)
    store.set_status(study.id, "open")
    assert store.submit_vote(r1, nxt.token, "real", 1).accepted
    assert store.progress(r1) == (4, 10)
    with pytest.raises(StudyError):
        store.reader_by_code(study.id, "AAAA-BBBB-CCCC")


def test_authenticated_user_reader(store: TuringStore) -> None:
    real, gen = _sources(10)
    study = create_study("users", StudyOptions(n_cases=4, seed=4), real=real, generated=[gen], store=store)
    a = store.reader_for_user(study.id, "alice")
    assert store.reader_for_user(study.id, "alice").id == a.id
    assert store.reader_for_user(study.id, "bob").id != a.id


def test_schema_migrates_on_start(tmp_path: Path) -> None:
    from sqlalchemy import inspect

    from medgan.turing import schema

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = get_engine(url)
    TuringStore(engine)
    # pretend this database was written by schema version 1 (before the reader/case vote index)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_turing_votes_reader_case"))
        conn.execute(text("UPDATE turing_meta SET value = '1' WHERE key = 'schema_version'"))
    schema.forget_schema_cache()
    TuringStore(engine)
    names = {ix["name"] for ix in inspect(engine).get_indexes("turing_votes")}
    assert "ix_turing_votes_reader_case" in names
    with engine.connect() as conn:
        assert conn.execute(text("SELECT value FROM turing_meta")).scalar() == str(schema.SCHEMA_VERSION)
    with engine.begin() as conn:
        conn.execute(text("UPDATE turing_meta SET value = '999'"))
    schema.forget_schema_cache()
    with pytest.raises(RuntimeError, match="newer"):
        TuringStore(engine)
    schema.forget_schema_cache()
