"""Store locations as users write them: store roots (paths and URIs), database URLs, and the one
place where credentials are taken out of anything shown to people."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

# scheme://user:password@host -> scheme://user:***@host. The password runs to the last '@' before
# the path, so an unencoded '@' inside it is hidden too.
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s/:@]*):[^\s/]*@")
# ...?password=secret (libpq and SQLAlchemy accept credentials as query parameters as well).
_QUERY_SECRET = re.compile(r"(?P<head>[?&](?:password|passwd|pwd|secret|token|access_key|secret_key)=)"
                           r"[^&\s'\"]*", re.IGNORECASE)  # fmt: skip
# The scheme SQLAlchemy 2.1 maps to psycopg 3, and Heroku's alias it rejects; psycopg2 is installed.
_DRIVERS = {"postgresql": "postgresql+psycopg2", "postgres": "postgresql+psycopg2"}


def redact(text: str) -> str:
    """``text`` (a URI, or a message that contains URIs) with every password replaced by ``***``."""
    text = _USERINFO.sub(r"\g<head>:***@", str(text))
    return _QUERY_SECRET.sub(r"\g<head>***", text)


def sqlalchemy_url(url: str) -> str:
    """A database URL as users write it -> one SQLAlchemy can open with the installed drivers:
    ``postgresql://`` and ``postgres://`` get ``+psycopg2``; every other URL is returned as is."""
    scheme, sep, rest = url.partition("://")
    return f"{_DRIVERS[scheme]}://{rest}" if sep and scheme in _DRIVERS else url


def store_root(root: str | Path) -> str:
    """A local store as an absolute path (``file:///abs/path`` included), any other URI unchanged
    (``s3://bucket/prefix``: a pyarrow filesystem)."""
    root = str(root)
    if "://" not in root:
        return str(Path(root).expanduser().resolve())
    parts = urlsplit(root)
    if parts.scheme != "file":
        return root
    if parts.netloc not in ("", "localhost"):
        raise ValueError(f"store {root!r}: a file:// URI names a path on this machine (file:///abs/path)")
    return str(Path(unquote(parts.path)).resolve())


def check_local_store(root: str, create: bool, hint: str) -> None:
    """A local store root must be a directory; one about to be written must be writable (probed by
    creating a file: permission bits do not stop root, read-only mounts and immutable folders do).
    Without ``create`` a missing root is an error, not a new empty store."""
    path = Path(root)
    if path.exists() and not path.is_dir():
        raise ValueError(f"store {root!r} is a file, not a directory ({hint})")
    if not create:
        if not path.is_dir():
            raise ValueError(f"no store at {root!r} ({hint})")
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-probe-"):
            pass
    except OSError as err:
        raise ValueError(f"store {root!r} is not writable: {err.strerror or err}") from None
