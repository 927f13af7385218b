"""Reading .osz / .qp archives (plain zip files) safely (also importable as ``beatforge.formats.archive``).

Members are only ever read into memory by name; nothing is extracted to disk with the member's own
path, so a ``../../evil`` member cannot escape (zip slip). Such names are still rejected, because an
archive that carries them is hostile. Sizes are bounded before decompressing (zip bomb): the total
declared size, the member count, and the compression ratio (of every member over 64 KiB and of the whole archive,
so a thousand 1 MB members of zeros do not pass one by one), and a member is read with a hard cap in case its
header lies. The charts of an archive have a budget of their own (:func:`chart_members`): every one of them is
parsed to list the set.
"""

from __future__ import annotations

import zipfile
from functools import lru_cache
from pathlib import Path, PurePosixPath

from beatforge.constants import (
    COMPRESSION_CHECK_BYTES,
    MAX_ARCHIVE_BYTES,
    MAX_ARCHIVE_CHART_BYTES,
    MAX_ARCHIVE_CHARTS,
    MAX_ARCHIVE_MEMBERS,
    MAX_COMPRESSION_RATIO,
)
from beatforge.errors import ArchiveError


def _is_unsafe(name: str) -> bool:
    p = PurePosixPath(name.replace("\\", "/"))
    return p.is_absolute() or ".." in p.parts or (len(name) > 1 and name[1] == ":")


@lru_cache(maxsize=64)
def _checked_infos(path: Path, mtime: float) -> tuple[zipfile.ZipInfo, ...]:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = tuple(zf.infolist())
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ArchiveError(f"{path}: not a readable zip archive ({exc})") from None
    if len(infos) > MAX_ARCHIVE_MEMBERS:
        raise ArchiveError(f"{path}: {len(infos)} members, more than the {MAX_ARCHIVE_MEMBERS} allowed")
    total = sum(i.file_size for i in infos)
    if total > MAX_ARCHIVE_BYTES:
        raise ArchiveError(f"{path}: unpacks to {total} bytes, more than the {MAX_ARCHIVE_BYTES} allowed (zip bomb?)")
    for info in infos:
        if _is_unsafe(info.filename):
            raise ArchiveError(f"{path}: member '{info.filename}' points outside the archive (zip slip)")
        if info.file_size > COMPRESSION_CHECK_BYTES and info.file_size > MAX_COMPRESSION_RATIO * max(
                info.compress_size, 1):
            raise ArchiveError(
                f"{path}: member '{info.filename}' compresses {info.file_size / max(info.compress_size, 1):.0f}:1, "
                f"more than the {MAX_COMPRESSION_RATIO:.0f}:1 allowed (zip bomb?)"
            )
    packed = sum(i.compress_size for i in infos)
    if total > COMPRESSION_CHECK_BYTES and total > MAX_COMPRESSION_RATIO * max(packed, 1):
        raise ArchiveError(f"{path}: its members compress {total / max(packed, 1):.0f}:1 together, more than the "
                           f"{MAX_COMPRESSION_RATIO:.0f}:1 allowed (zip bomb?)")
    return infos


def checked_infos(path: str | Path) -> tuple[zipfile.ZipInfo, ...]:
    """The archive's members, after the safety checks above (raises :class:`ArchiveError`)."""
    p = Path(path)
    try:
        mtime = p.stat().st_mtime
    except OSError as exc:
        raise ArchiveError(f"{p}: cannot open ({exc.strerror})") from None
    return _checked_infos(p, mtime)


def member_names(path: str | Path) -> list[str]:
    return [i.filename for i in checked_infos(path) if not i.is_dir()]


def chart_members(path: str | Path, suffixes: tuple[str, ...]) -> list[str]:
    """The members whose names end in one of ``suffixes`` (sorted), within the archive's chart budget: at most
    MAX_ARCHIVE_CHARTS of them, MAX_ARCHIVE_CHART_BYTES expanded together."""
    infos = [i for i in checked_infos(path) if not i.is_dir() and i.filename.lower().endswith(suffixes)]
    if len(infos) > MAX_ARCHIVE_CHARTS:
        raise ArchiveError(f"{path}: {len(infos)} charts, more than the {MAX_ARCHIVE_CHARTS} one set may hold")
    total = sum(i.file_size for i in infos)
    if total > MAX_ARCHIVE_CHART_BYTES:
        raise ArchiveError(f"{path}: its charts unpack to {total >> 20} MiB, more than the "
                           f"{MAX_ARCHIVE_CHART_BYTES >> 20} MiB one set may hold")
    return sorted(i.filename for i in infos)


def read_member(path: str | Path, member: str, *, max_bytes: int | None = None) -> bytes:
    """One member's bytes, reading at most its declared size + 1 byte (a lying header is caught); ``max_bytes``:
    refuse a member declared larger."""
    infos = {i.filename: i for i in checked_infos(path)}
    if member not in infos:
        raise ArchiveError(f"{path}: no member '{member}'")
    info = infos[member]
    if max_bytes is not None and info.file_size > max_bytes:
        raise ArchiveError(f"{path}: member '{member}' unpacks to {info.file_size >> 20} MiB, more than the "
                           f"{max_bytes >> 20} MiB allowed")
    try:
        with zipfile.ZipFile(path) as zf, zf.open(info) as fh:
            data = fh.read(info.file_size + 1)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
        raise ArchiveError(f"{path}: cannot read '{member}' ({exc})") from None
    if len(data) > info.file_size:
        raise ArchiveError(f"{path}: member '{member}' is larger than its header says (zip bomb?)")
    return data


def find_member(path: str | Path, name: str) -> str | None:
    """The member called ``name``, matched case-insensitively (charts name audio loosely)."""
    wanted = name.replace("\\", "/").lower()
    for n in member_names(path):
        if n.lower() == wanted:
            return n
    return None
