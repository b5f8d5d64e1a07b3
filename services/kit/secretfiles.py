"""Files that hold secrets: created 0600 from the first byte, in directories only their owner can enter.

Every secret the platform writes (the local API key, S3 keys, NATS passwords and config, the pod
manager's token secret, the metrics token) goes through here, so none is ever world-readable, not even
for the moment between a write and a chmod.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

SECRET_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) if needed and make it 0700: the home holds every local secret."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    with contextlib.suppress(PermissionError):  # a directory we do not own (e.g. /tmp) is left as it is
        os.chmod(path, PRIVATE_DIR_MODE)
    return path


def _private_tmp(path: Path, text: str) -> Path:
    """A new 0600 file beside `path` holding `text`, flushed to disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_MODE)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def write_secret(path: Path, text: str) -> None:
    """Replace `path` atomically with `text`, the file being 0600 before any byte is written."""
    tmp = _private_tmp(path, text)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _read_secret(path: Path) -> str:
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        return ""
    if value:
        with contextlib.suppress(PermissionError):
            if path.stat().st_mode & 0o777 != SECRET_MODE:
                os.chmod(path, SECRET_MODE)
    return value


def read_or_create_secret(path: Path, make: Callable[[], str] = lambda: secrets.token_hex(32)) -> str:
    """The secret kept in `path`, made once by `make()` when absent; an existing file is tightened to 0600.

    Processes started together over a fresh home (the services of `simswarm up`, two pod manager
    replicas) race to make it: the new file is linked into place only if `path` does not exist yet, so
    the first one wins and every other reads that one's value (with a plain replace each would keep its
    own, and pods provisioned by one pod manager would refuse the other).
    """
    value = _read_secret(path)
    if value:
        return value
    tmp = _private_tmp(path, make() + "\n")
    try:
        with contextlib.suppress(FileExistsError):  # another process made it first: read theirs
            os.link(tmp, path)
        value = _read_secret(path)
        if not value:  # a file that was there but empty: ours replaces it
            os.replace(tmp, path)
            value = _read_secret(path)
    finally:
        tmp.unlink(missing_ok=True)
    return value
