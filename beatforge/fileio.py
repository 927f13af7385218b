"""Atomic file output: write to a temporary name in the target folder, then rename.

A crash, Ctrl-C or an error half-way never leaves a half-written chart, archive or index behind: the
target either keeps its old content or gets the whole new one (``os.replace`` is atomic on POSIX and on
Windows within one volume).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from beatforge.errors import ChartError


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it is renamed onto ``target``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates the file private (0600); give the result the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write_bytes(target: str | Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: str | Path, text: str, encoding: str = "utf-8") -> None:
    atomic_write_bytes(target, text.encode(encoding))


def read_bounded(path: str | Path, *, max_bytes: int, what: str) -> bytes:
    """A chart file's bytes, refusing files too large to be one (``what`` names the kind in the message).

    Raises:
        ChartError: the file cannot be read or is larger than ``max_bytes``.
    """
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise ChartError(f"{p}: {size >> 20} MiB is too large for {what}")
        return p.read_bytes()
    except OSError as exc:
        raise ChartError(f"{p}: cannot read ({exc.strerror or exc})") from None


def decode_text(data: bytes, *, path: str, what: str) -> str:
    """Chart text: UTF-8 (with or without BOM), else Latin-1 (old files in a legacy code page are still text).

    Raises:
        ChartError: the data is binary (a NUL byte near the start), i.e. not ``what`` at all.
    """
    if b"\x00" in data[:4096]:
        raise ChartError(f"{path}: not {what} (binary data)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")
