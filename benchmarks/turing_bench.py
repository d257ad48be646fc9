"""Turing-test vote store benchmark: votes/s and p50/p99 vote latency with concurrent readers.

    python benchmarks/turing_bench.py [--readers 32] [--votes 50] [--backends sqlite postgresql]

Each reader is a thread in one process (as in the app server): it fetches its next case (a write: the case is
marked served) and submits a vote (the timed call), 50 times. SQLite is a WAL file in a temporary folder;
PostgreSQL is a real server started for the run (tests/pg_server.py, fsync on). Targets on 2 cores: ≥ 200 votes/s,
p99 ≤ 100 ms. The row count is checked after each run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MEDGAN_HOME", tempfile.mkdtemp(prefix="medgan-bench-home-"))

from medgan.db import dispose_engines, get_engine  # noqa: E402
from medgan.turing.store import TuringStore  # noqa: E402
from medgan.turing.study import array_source, create_study  # noqa: E402
from medgan.turing.study_types import StudyOptions  # noqa: E402


def run(url: str, n_readers: int, n_votes: int) -> dict:
    store = TuringStore(get_engine(url))
    rng = np.random.default_rng(0)
    real = array_source("real", rng.random((n_votes, 32, 32), dtype=np.float32), "real")
    gen = array_source("gen", rng.random((n_votes, 32, 32), dtype=np.float32), "generated")
    info = create_study(f"bench-{time.time_ns()}", StudyOptions(n_cases=n_votes, seed=1), real=real,
                        generated=[gen], store=store)
    readers = [store.reader_by_code(info.id, c) for _, c in store.issue_codes(info.id, n_readers)]
    vote_lat: list[float] = []
    serve_lat: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(n_readers + 1)

    def reader_loop(reader) -> None:  # noqa: ANN001
        mine_v, mine_s = [], []
        try:
            barrier.wait()
            for i in range(n_votes):
                t0 = time.perf_counter()
                case = store.next_case(reader)
                t1 = time.perf_counter()
                store.submit_vote(reader, case.token, "real" if i % 2 else "generated", 1 + i % 5)
                t2 = time.perf_counter()
                mine_s.append(t1 - t0)
                mine_v.append(t2 - t1)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        with lock:
            vote_lat.extend(mine_v)
            serve_lat.extend(mine_s)

    threads = [threading.Thread(target=reader_loop, args=(r,)) for r in readers]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    rows = store.count_votes(info.id)
    v = np.array(vote_lat) * 1000
    s = np.array(serve_lat) * 1000
    return {"votes": len(v), "rows": rows, "expected": n_readers * n_votes, "errors": len(errors),
            "wall_s": wall, "votes_per_s": len(v) / wall, "vote_p50_ms": float(np.percentile(v, 50)),
            "vote_p99_ms": float(np.percentile(v, 99)), "serve_p50_ms": float(np.percentile(s, 50)),
            "serve_p99_ms": float(np.percentile(s, 99)), "first_error": repr(errors[0]) if errors else ""}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--readers", type=int, default=32)
    ap.add_argument("--votes", type=int, default=50)
    ap.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    args = ap.parse_args()
    print(f"{args.readers} concurrent readers × {args.votes} votes; {os.cpu_count()} CPU cores")
    ok = True
    for backend in args.backends:
        server = None
        if backend == "sqlite":
            url = f"sqlite:///{tempfile.mkdtemp(prefix='medgan-bench-')}/bench.db"
        else:
            from tests.pg_server import PgServer, pg_or_skip_reason

            reason = pg_or_skip_reason()
            if reason:
                print(f"postgresql: skipped ({reason})")
                continue
            server = PgServer(fsync=True).start()
            url = server.url
        try:
            r = run(url, args.readers, args.votes)
        finally:
            dispose_engines()
            if server is not None:
                server.stop()
        good = r["rows"] == r["expected"] and r["errors"] == 0
        ok &= good
        print(f"{backend:10s} {r['votes_per_s']:7.1f} votes/s  vote p50 {r['vote_p50_ms']:6.1f} ms  "
              f"p99 {r['vote_p99_ms']:6.1f} ms  (serve p50 {r['serve_p50_ms']:.1f} / p99 {r['serve_p99_ms']:.1f} ms)"
              f"  rows {r['rows']}/{r['expected']}  errors {r['errors']}  wall {r['wall_s']:.1f} s"
              + (f"  {r['first_error']}" if r["first_error"] else ""))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
