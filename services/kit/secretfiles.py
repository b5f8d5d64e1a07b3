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


def write_secret(path: Path, text: str) -> None:
    """Replace `path` atomically with `text`, the file being 0600 before any byte is written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_MODE)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def read_or_create_secret(path: Path, make: Callable[[], str] = lambda: secrets.token_hex(32)) -> str:
    """The secret kept in `path`, made once by `make()` when absent; an existing file is tightened to 0600."""
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        value = ""
    if value:
        with contextlib.suppress(PermissionError):
            if path.stat().st_mode & 0o777 != SECRET_MODE:
                os.chmod(path, SECRET_MODE)
        return value
    value = make()
    write_secret(path, value + "\n")
    return value
