"""File helpers: atomic writes, folder swaps, and the cache folder.

A file is written to a temporary sibling and renamed over its target; a folder is built in a
temporary sibling and swapped into place. Readers therefore see the old version or the new
one, never a half-written one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def default_cache_dir() -> Path:
    """``$GENER_CACHE`` or ``~/.cache/gener``."""
    return Path(os.environ.get("GENER_CACHE") or Path.home() / ".cache" / "gener")


@contextlib.contextmanager
def atomic_file(path: str | Path, binary: bool = False) -> Iterator[IO]:
    """A file opened for writing that replaces ``path`` when the block ends without error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8")) as f:
            yield f
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; published files must be readable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_file(path) as f:
        f.write(text)


def atomic_write_json(path: str | Path, data: object) -> None:
    """Write ``data`` as indented JSON (non-ASCII kept) to ``path`` atomically."""
    atomic_write_text(path, json.dumps(data, ensure_ascii=False, indent=1))


def temporary_folder(path: Path) -> Path:
    """A new, empty folder beside ``path`` in which to build its next version."""
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def replace_folder(tmp: Path, path: Path) -> None:
    """Move the finished folder ``tmp`` to ``path``, replacing the one there if any."""
    if path.exists():  # move the old one aside, then swap
        old = path.with_name(f"{path.name}.old-{os.getpid()}")
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)
