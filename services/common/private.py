"""Files only their owner reads: the embedded system's data directory, logs, kept e-mails and
secrets hold personal data or keys (kick-off e-mails carry first names and addresses)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


def private_directory(path: Path) -> Path:
    """Create ``path`` (and missing parents) mode 700; an existing one is narrowed to 700,
    as an earlier version left it 755. Before starting PostgreSQL under it: as root, its OS
    user passes through by the group bit that this removes (see embedded.PostgresServer)."""
    path.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    path.chmod(DIRECTORY_MODE)
    return path


def open_private(path: Path, mode: str = "ab") -> IO:
    """Open for writing a file mode 600 (``"ab"``, ``"wb"``, ``"a"`` or ``"w"``). Created 600
    from the start, not chmod-ed afterwards: nobody can open it in between."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    descriptor = os.open(path, flags, FILE_MODE)
    os.fchmod(descriptor, FILE_MODE)  # a file an earlier version made 644
    return os.fdopen(descriptor, mode)


def write_private(path: Path, content: str | bytes) -> None:
    with open_private(path, "wb") as file:
        file.write(content.encode() if isinstance(content, str) else content)


def narrow_tree(path: Path) -> None:
    """Make what an earlier version wrote under ``path`` private: directories 700, files 600
    (symbolic links and what another OS user owns, like PostgreSQL's cluster, left alone)."""
    uid = os.geteuid()
    for entry in [path, *path.rglob("*")] if path.exists() else []:
        if entry.is_symlink() or entry.lstat().st_uid != uid:
            continue
        entry.chmod(DIRECTORY_MODE if entry.is_dir() else FILE_MODE)
