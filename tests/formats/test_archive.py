"""Archives are read zip-slip safe and bounded in size and member count."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from beatforge.constants import MAX_ARCHIVE_MEMBERS
from beatforge.errors import ArchiveError
from beatforge.formats.archive import find_member, member_names, read_member


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize("name", ["../evil.osu", "a/../../evil.osu", "/abs/evil.osu", "C:/evil.osu", "..\\evil.osu"])
def test_zip_slip_names_are_rejected(tmp_path: Path, name: str) -> None:
    z = _zip(tmp_path / "x.osz", {name: b"osu file format v14"})
    with pytest.raises(ArchiveError, match="zip slip"):
        member_names(z)


def test_zip_bomb_ratio(tmp_path: Path) -> None:
    z = _zip(tmp_path / "bomb.osz", {"a.osu": b"\0" * (20 << 20)})
    with pytest.raises(ArchiveError, match="zip bomb"):
        member_names(z)


def test_too_many_members(tmp_path: Path) -> None:
    z = _zip(tmp_path / "many.osz", {f"{i}.txt": b"" for i in range(MAX_ARCHIVE_MEMBERS + 1)})
    with pytest.raises(ArchiveError, match="members"):
        member_names(z)


def test_lying_header_is_caught(tmp_path: Path) -> None:
    z = _zip(tmp_path / "lie.osz", {"a.osu": b"x" * 1000})
    data = bytearray(z.read_bytes())
    # Patch the uncompressed size in the central directory to claim 10 bytes.
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24 : cd + 28] = (10).to_bytes(4, "little")
    z.write_bytes(bytes(data))
    with pytest.raises(ArchiveError):
        read_member(z, "a.osu")


def test_corrupt_and_missing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.osz"
    bad.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(ArchiveError, match="not a readable zip"):
        member_names(bad)
    with pytest.raises(ArchiveError, match="cannot open"):
        member_names(tmp_path / "nope.osz")


def test_case_insensitive_lookup(tmp_path: Path) -> None:
    z = _zip(tmp_path / "ok.osz", {"Audio.MP3": b"abc"})
    assert find_member(z, "audio.mp3") == "Audio.MP3"
    assert read_member(z, "Audio.MP3") == b"abc"
