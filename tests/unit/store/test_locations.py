"""Store locations as users write them: one resolution for every command, passwords never shown or
shipped on command lines, and clear errors for stores that cannot be used."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest

from search_scaling.cli import main, submission, ui_command
from search_scaling.store import Stores
from search_scaling.store.locations import redact, sqlalchemy_url
from search_scaling.store.recorder import ENV_LEDGER, ENV_STORE, ENV_TRACKING

SECRET = "S3cr3t-pw"


def test_redact_hides_every_password():
    assert redact(f"http://alice:{SECRET}@mlflow:5000") == "http://alice:***@mlflow:5000"
    message = f"API request to https://alice:{SECRET}@host/api/2.0/x failed; postgresql://bob:p@ss@db/ledger"
    assert (
        redact(message)
        == "API request to https://alice:***@host/api/2.0/x failed; postgresql://bob:***@db/ledger"
    )
    assert redact(f"postgresql://db/ledger?user=bob&password={SECRET}&sslmode=require").endswith(
        "password=***&sslmode=require"
    )
    assert redact("s3://bucket/runs") == "s3://bucket/runs" and redact("/abs/runs") == "/abs/runs"


def test_plain_postgresql_urls_use_the_installed_driver():
    assert sqlalchemy_url("postgresql://u@h:5432/db") == "postgresql+psycopg2://u@h:5432/db"
    assert sqlalchemy_url("postgres://u@h/db") == "postgresql+psycopg2://u@h/db"
    for kept in ("postgresql+psycopg2://u@h/db", "sqlite:////abs/ledger.db", "http://mlflow:5000"):
        assert sqlalchemy_url(kept) == kept


def test_one_resolution_flags_environment_and_file_uris(tmp_path, monkeypatch):
    store = tmp_path / "store"
    store.mkdir()
    monkeypatch.setenv(ENV_STORE, str(store))
    monkeypatch.delenv(ENV_LEDGER, raising=False)
    monkeypatch.delenv(ENV_TRACKING, raising=False)
    by_env = Stores.resolve(create=False)
    assert by_env.root == str(store) and by_env.ledger_url == f"sqlite:///{store}/ledger.db"
    assert Stores.resolve(store.as_uri(), create=False) == by_env  # file:///abs/path
    assert Stores.locate(f"file://{store}/../store", create=False) == str(store)
    monkeypatch.setenv(ENV_LEDGER, "postgresql://u@db/ledger")
    remote = Stores.resolve("s3://bucket/runs")  # a URI is kept; nothing is created locally
    assert remote.root == "s3://bucket/runs" and remote.ledger_url == "postgresql+psycopg2://u@db/ledger"
    assert remote.tracking_uri is None
    with pytest.raises(ValueError, match="file:///abs/path"):
        Stores.locate("file://otherhost/runs")


def test_submit_ships_store_locations_in_the_job_environment_not_the_entrypoint():
    ledger, tracking = f"postgresql://alice:{SECRET}@db/ledger", f"http://alice:{SECRET}@mlflow:5000"
    entrypoint, runtime_env = submission(Path("sweeps/maze grid.yaml"), "s3://bucket/runs", ledger, tracking)
    assert entrypoint == "search-scaling sweep 'sweeps/maze grid.yaml'"  # what `ray job list` shows
    assert runtime_env["env_vars"] == {
        ENV_STORE: "s3://bucket/runs",
        ENV_LEDGER: ledger,
        ENV_TRACKING: tracking,
    }
    assert ".git" in runtime_env["excludes"] and runtime_env["working_dir"] == "."
    assert "env_vars" not in submission(Path("s.yaml"))[1]  # nothing given: the cluster's own settings


def test_ui_keeps_the_backend_password_off_the_command_line():
    cmd, env = ui_command(f"postgresql+psycopg2://alice:{SECRET}@db/mlflow", "127.0.0.1", 5000)
    assert not any(SECRET in arg for arg in cmd) and SECRET in env["MLFLOW_BACKEND_STORE_URI"]
    with pytest.raises(ValueError, match=r"alice:\*\*\*@mlflow.*already"):
        ui_command(f"http://alice:{SECRET}@mlflow:5000", "127.0.0.1", 5000)


def _cli(capsys, *args) -> tuple[int, str]:
    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out + out.err


def test_status_on_a_mistyped_store_is_an_error_and_creates_nothing(tmp_path, capsys):
    missing = tmp_path / "runz"
    rc, out = _cli(capsys, "status", "smoke", "--store", missing)
    assert rc == 2 and f"no store at '{missing}'" in out and "Traceback" not in out
    assert not missing.exists()


@contextlib.contextmanager
def read_only_dir(path: Path):
    """A folder nobody may write into: permission bits for a normal user; root ignores those, so
    for root the immutable attribute (what a read-only mount does to root as well)."""
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(0o755)
        return
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"running as root without a way to make a read-only folder: {made.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_store_at_a_file_or_a_read_only_folder_is_one_clear_error(tmp_path, capsys):
    train = ["train", "--size", "3", "--model", "L1-D8", "--steps", "2", "--no-mlflow", "--store"]
    a_file = tmp_path / "store.txt"
    a_file.write_text("not a store")
    rc, out = _cli(capsys, *train, a_file)
    assert rc == 2 and f"store '{a_file}' is a file, not a directory" in out and "Traceback" not in out
    with read_only_dir(tmp_path / "ro") as ro:
        rc, out = _cli(capsys, *train, ro)
        assert rc == 2 and f"store '{ro}' is not writable" in out and "Traceback" not in out
        assert list(ro.iterdir()) == []
