"""A throwaway PostgreSQL server for tests: initdb in a temporary directory, listening on
127.0.0.1 only, trust authentication, stopped at the end. Runs as the ``postgres`` system user
when the tests run as root (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

HOW_TO_ENABLE = "install PostgreSQL server binaries (Debian: apt-get install postgresql; `.ci/run` does)"


def find_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self, base: Path):
        self.initdb, self.pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
        self.base, self.port = base, free_port()
        self.data, self.sock = base / "data", base / "sock"
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def available(self) -> bool:
        return bool(self.initdb and self.pg_ctl) and (not self.as_user or shutil.which("runuser") is not None)

    def _run(self, *cmd: str) -> None:
        from tests.servers import start

        start([*self.as_user, *cmd], "PostgreSQL", logs=[self.base / "log"], timeout=120)

    def start(self) -> None:
        self.sock.mkdir(parents=True)
        if self.as_user:
            shutil.chown(self.base, "postgres")
            shutil.chown(self.sock, "postgres")
        user = "postgres" if self.as_user else os.environ.get("USER", "postgres")
        self.user = user
        self._run(self.initdb, "-D", str(self.data), "-U", user, "--auth=trust", "-E", "UTF8")
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sock} -c max_connections=200"
        opts += " -c fsync=off"  # a test server: durability across power loss does not matter
        self._run(self.pg_ctl, "-D", str(self.data), "-o", opts, "-l", str(self.base / "log"), "-w", "start")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import sqlalchemy as sa

        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return self.url(name)

    def stop(self) -> None:
        cmd = [*self.as_user, self.pg_ctl, "-D", str(self.data), "-m", "immediate", "stop"]
        if subprocess.run(cmd, capture_output=True, timeout=120).returncode != 0:
            time.sleep(0.5)  # a server that is already gone: nothing to stop
