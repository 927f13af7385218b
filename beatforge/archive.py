"""Reading .osz / .qp archives (plain zip files) safely (also importable as ``beatforge.formats.archive``).

Members are only ever read into memory by name; nothing is extracted to disk with the member's own
path, so a ``../../evil`` member cannot escape (zip slip). Such names are still rejected, because an
archive that carries them is hostile. Sizes are bounded before decompressing (zip bomb): the total
declared size, the member count, and the compression ratio, and a member is read with a hard cap in
case its header lies.
"""

from __future__ import annotations

import zipfile
from functools import lru_cache
from pathlib import Path, PurePosixPath

from beatforge.constants import MAX_ARCHIVE_BYTES, MAX_ARCHIVE_MEMBERS, MAX_COMPRESSION_RATIO
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
        if (
            info.compress_size
            and info.file_size / info.compress_size > MAX_COMPRESSION_RATIO
            and info.file_size > 1 << 20
        ):
            raise ArchiveError(
                f"{path}: member '{info.filename}' compresses {info.file_size / info.compress_size:.0f}:1 (zip bomb?)"
            )
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


def read_member(path: str | Path, member: str) -> bytes:
    """One member's bytes, reading at most its declared size + 1 byte (a lying header is caught)."""
    infos = {i.filename: i for i in checked_infos(path)}
    if member not in infos:
        raise ArchiveError(f"{path}: no member '{member}'")
    info = infos[member]
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
