"""The code's identity: the package version and, from a git checkout, the commit (cheap to import:
`search-scaling --version` and every run row use it)."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

_HERE = Path(__file__).resolve().parent


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(_HERE), *args], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("search-scaling")
    except PackageNotFoundError:  # run from a checkout that was never installed (PYTHONPATH)
        return "0+unknown"


@functools.cache
def git_commit() -> str:
    """The full commit hash of the checkout this code runs from ('' outside a git checkout)."""
    return _git("rev-parse", "HEAD")


@functools.cache
def code_version() -> str:
    """Package version plus the short commit (and '-dirty') when run from a checkout."""
    commit = _git("describe", "--always", "--dirty")
    return f"{package_version()}+{commit}" if commit else package_version()
