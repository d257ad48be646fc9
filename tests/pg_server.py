"""A real, throw-away PostgreSQL server for tests and benchmarks.

Uses Debian's binaries under /usr/lib/postgresql/<version>/bin. initdb/postgres refuse to run as root, so when
running as root the server runs as the ``postgres`` user (``runuser -u postgres --``) with a temporary data
directory owned by it, a free TCP port on 127.0.0.1 and its socket in the temporary directory.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def find_pg_bin() -> Path | None:
    """Newest PostgreSQL bin folder that has initdb and pg_ctl, or None."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    found = [p for p in found if (p / "pg_ctl").exists()]
    if not found:
        return None
    return sorted(found, key=lambda p: int("".join(ch for ch in p.parent.name if ch.isdigit()) or 0))[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """Start with :meth:`start`, connect with :attr:`url` (SQLAlchemy, psycopg 3), stop with :meth:`stop`."""

    def __init__(self, fsync: bool = False, max_connections: int = 200) -> None:
        self.bin = find_pg_bin()
        if self.bin is None:
            raise RuntimeError("PostgreSQL binaries not found under /usr/lib/postgresql/*/bin")
        self.fsync = fsync
        self.max_connections = max_connections
        self.tmp = Path(tempfile.mkdtemp(prefix="medgan-pg-"))
        self.data = self.tmp / "data"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _cmd(self, *args: str) -> list[str]:
        return (["runuser", "-u", "postgres", "--"] if self.as_postgres else []) + list(args)

    def start(self) -> PgServer:
        if self.as_postgres:
            shutil.chown(self.tmp, "postgres", "postgres")
        os.chmod(self.tmp, 0o700)
        subprocess.run(self._cmd(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                                 "-E", "UTF8", "--no-sync", "--no-instructions"),
                       check=True, capture_output=True, timeout=120)
        opts = (f"-p {self.port} -k {self.tmp} -c listen_addresses=127.0.0.1 -c max_connections={self.max_connections}"
                f" -c fsync={'on' if self.fsync else 'off'}")
        if not self.fsync:
            opts += " -c synchronous_commit=off -c full_page_writes=off"
        subprocess.run(self._cmd(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.tmp / "log"),
                                 "-w", "-t", "60", "-o", opts, "start"),
                       check=True, capture_output=True, timeout=90)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL did not start; log:\n{self.log()}")

    def log(self) -> str:
        try:
            return (self.tmp / "log").read_text()[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        subprocess.run(self._cmd(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"),
                       capture_output=True, timeout=60)
        shutil.rmtree(self.tmp, ignore_errors=True)


def pg_or_skip_reason() -> str | None:
    """None when a server can be started here; otherwise why PostgreSQL tests are skipped."""
    if find_pg_bin() is None:
        return "PostgreSQL binaries are absent (apt-get install postgresql); PostgreSQL tests skipped"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser; cannot start PostgreSQL as the postgres user"
    return None
