"""Reading inputs within bounds and writing outputs atomically, so a failure never leaves partial files."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from synthguard.errors import InputError, InputTooLarge, OutputError

DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB; configurable per call and by SYNTHGUARD_MAX_BYTES


def max_bytes() -> int:
    """The configured input size limit in bytes."""
    raw = os.environ.get("SYNTHGUARD_MAX_BYTES")
    if raw is None:
        return DEFAULT_MAX_BYTES
    try:
        return int(raw)
    except ValueError:
        return DEFAULT_MAX_BYTES


def read_input(path: str | os.PathLike[str], limit: int | None = None) -> bytes:
    """Read a whole input file, refusing directories, unreadable files and files over the limit."""
    p = Path(path)
    limit = max_bytes() if limit is None else limit
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputError("no such file", path=str(p)) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=str(p)) from None
    if p.is_dir():
        raise InputError("is a directory", path=str(p))
    if st.st_size > limit:
        raise InputTooLarge(f"{st.st_size} bytes exceeds the limit of {limit} bytes", path=str(p))
    try:
        with p.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=str(p)) from None
    if len(data) > limit:
        raise InputTooLarge(f"more than {limit} bytes", path=str(p))
    return data


def write_atomic(path: str | os.PathLike[str], data: bytes, *, mode_from: Path | None = None) -> None:
    """Write bytes to a temporary file beside the target, fsync it, then rename it into place."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise OutputError(f"output directory {directory} does not exist", path=str(target))
    if target.is_dir():
        raise OutputError("output is a directory", path=str(target))
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".sgtmp", dir=directory)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if mode_from is not None:
            with contextlib.suppress(OSError):
                os.chmod(tmp_name, mode_from.stat().st_mode & 0o7777)
        os.replace(tmp_name, target)
        tmp_name = None
    except OSError as exc:
        raise OutputError(f"cannot write: {exc.strerror or exc}", path=str(target)) from None
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
