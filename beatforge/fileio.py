"""The one guarded way in and out of files a user names.

Out: atomic output. Write to a temporary name in the target folder, then rename: a crash, Ctrl-C or an error
half-way never leaves a half-written chart, archive or index behind (``os.replace`` is atomic on POSIX and on
Windows within one volume).

In: charts, indexes and model files come from strangers. :func:`read_bounded` reads regular files only (a FIFO
would block forever, ``/dev/zero`` never ends, and both report ``st_size`` 0) and never more than its budget,
whatever ``st_size`` says. :func:`file_in_folder` resolves a file a chart names (its audio) inside the chart's own
folder only: an absolute path, ``..`` or a symlink out of the folder would make ``convert`` copy a private file
from the user's disk into a set they then share.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from beatforge.errors import BeatforgeError, ChartError


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


def read_bounded(path: str | Path, *, max_bytes: int, what: str,
                 error: type[BeatforgeError] = ChartError) -> bytes:
    """A regular file's bytes, at most ``max_bytes`` (``what`` names the kind in the message).

    Opened non-blocking and checked on the open descriptor (no race between the check and the read), then read
    in bounded chunks: a device, FIFO, socket or folder is refused, a file that grows past the budget too.

    Raises:
        ChartError (or ``error``): not a regular file, unreadable, or larger than ``max_bytes``.
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise error(f"{p}: cannot read ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{p}: not a regular file (a device, pipe or folder cannot be {what})")
        if st.st_size > max_bytes:
            raise error(f"{p}: {st.st_size >> 20} MiB is too large for {what} (at most {max_bytes >> 20} MiB)")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise error(f"{p}: more than {max_bytes >> 20} MiB is too large for {what}")
        return b"".join(chunks)
    except OSError as exc:
        raise error(f"{p}: cannot read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


def read_text(path: str | Path, *, max_bytes: int, what: str, error: type[BeatforgeError] = BeatforgeError) -> str:
    """A small UTF-8 text file a user names (an ID list, a config), bounded as :func:`read_bounded`."""
    data = read_bounded(path, max_bytes=max_bytes, what=what, error=error)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start})") from None


def read_json(path: str | Path, *, max_bytes: int, what: str, error: type[BeatforgeError] = BeatforgeError):
    """A JSON file a user names (a model's model.json, an index), bounded, with one clear error for bad JSON,
    non-finite numbers and nesting too deep to parse."""
    text = read_text(path, max_bytes=max_bytes, what=what, error=error)

    def no_constants(name: str):
        raise ValueError(f"{name} is not a JSON number")

    try:
        return json.loads(text, parse_constant=no_constants)
    except RecursionError:
        raise error(f"{path}: {what} is nested too deeply") from None
    except ValueError as exc:
        raise error(f"{path}: {what} is not valid JSON ({exc})") from None


def is_regular_file(path: str | Path) -> bool:
    """True for a regular file (following symlinks); False for folders, devices, FIFOs, sockets, missing paths."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def file_in_folder(folder: str | Path, name: str) -> Path | None:
    """The regular file called ``name`` inside ``folder`` (matched case-insensitively where the exact case is
    missing: osu! maps are made on Windows), or None: a name that is absolute, climbs out with ``..``, or whose
    file resolves (through symlinks) outside ``folder``, names nothing."""
    name = str(name).strip().replace("\\", "/")
    if not name or "\x00" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return None
    parts = [x for x in name.split("/") if x not in ("", ".")]
    if not parts or ".." in parts:
        return None
    base = Path(folder)
    try:
        root = base.resolve()
        candidate = base.joinpath(*parts)
        if not candidate.exists() and len(parts) == 1 and base.is_dir():
            wanted = parts[0].lower()
            candidate = next((c for c in sorted(base.iterdir()) if c.name.lower() == wanted), candidate)
        resolved = candidate.resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    if not resolved.is_relative_to(root) or not is_regular_file(resolved):
        return None
    return candidate


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
