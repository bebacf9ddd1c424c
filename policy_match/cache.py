"""A small on-disk cache for fitted state (the relevance index, the segmenter's dictionary).

Entries are files named by a hash of everything they were built from (the data, the vocabulary
files, the versions of the code and libraries involved), written atomically (a temporary file
in the same directory, then ``os.replace``), so that a process never reads half an entry and a
stale entry is simply never looked up again. A corrupt or unreadable entry is ignored and
rebuilt; an unwritable cache directory only costs the rebuild.

Location: ``$POLICY_MATCH_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/policy-match`` or
``~/.cache/policy-match``. ``POLICY_MATCH_CACHE_DIR=off`` turns the cache off.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

# Bump when the layout of a cached entry changes.
CACHE_FORMAT = 1


def cache_dir() -> Path | None:
    env = os.environ.get("POLICY_MATCH_CACHE_DIR")
    if env is not None:
        return None if env.strip().lower() in {"", "off", "0", "none"} else Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "policy-match"


def digest(parts: Iterable[bytes | str]) -> str:
    """A hash of the parts, each length-prefixed so that no two sequences collide by concatenation."""
    h = hashlib.sha256(f"policy-match-cache-{CACHE_FORMAT}".encode())
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()[:32]


def source_version(*modules: str) -> str:
    """The code version of our own modules: a hash of their source files."""
    here = Path(__file__).resolve().parent
    return digest(((here / f"{m}.py").read_bytes() if (here / f"{m}.py").exists() else m.encode()) for m in modules)


def read(name: str) -> bytes | None:
    """The entry's bytes, or None when there is none (or the cache is off or unreadable)."""
    directory = cache_dir()
    if directory is None:
        return None
    try:
        return (directory / name).read_bytes()
    except OSError:
        return None


def write(name: str, writer: Callable[[object], None]) -> bool:
    """Write an entry atomically: ``writer(file)`` fills a temporary file that then replaces
    the entry. Returns False (and leaves nothing behind) when the cache cannot be written."""
    directory = cache_dir()
    if directory is None:
        return False
    tmp = None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            writer(f)
        os.replace(tmp, directory / name)
        return True
    except OSError:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        return False


def forget(name: str) -> None:
    """Remove a corrupt entry (best effort)."""
    directory = cache_dir()
    if directory is not None:
        with contextlib.suppress(OSError):
            (directory / name).unlink()
