"""What a song argument names: an audio file, or a Frets on Fire song folder (its stems are mixed, its song.ini
names it), with the title and artist the charts will carry."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from beatforge.charts.chart import AudioSource
from beatforge.constants import GENERIC_STEMS
from beatforge.errors import AudioError
from beatforge.formats.fretsonfire import audio_stems, read_song_ini
from beatforge.formats.osu import one_line


@dataclass
class Song:
    """A song's audio source(s) (several stems for a Frets on Fire folder), and a title and artist for the charts'
    metadata."""

    sources: tuple
    title: str
    artist: str


def _text(value: str | None) -> str | None:
    """Chart metadata from a flag, a song.ini or a file name: valid UTF-8 (a non-UTF-8 file name or argument arrives
    with surrogate escapes, which no chart file can hold) on one line (:func:`beatforge.formats.osu.one_line`)."""
    if value is None:
        return None
    text = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return one_line(text) or None


def resolve_song(path: str | Path | Song, *, title: str | None = None, artist: str | None = None) -> Song:
    """An audio file, or a Frets on Fire song folder (its stems are mixed, its song.ini names it); a
    :class:`Song` is returned as it is."""
    if isinstance(path, Song):
        return path
    if not isinstance(path, (str, os.PathLike)):
        raise AudioError(f"song: an audio file or song folder path, not {type(path).__name__}")
    p = Path(path)
    title, artist = _text(title), _text(artist)
    if p.is_dir():
        if not (p / "song.ini").is_file():
            raise AudioError(f"{p}: a folder; give an audio file, or a Frets on Fire song folder (with song.ini)")
        stems = audio_stems(p)
        if not stems:
            raise AudioError(f"{p}: the song folder has no audio stems (song.ogg, guitar.ogg ...)")
        ini = read_song_ini(p / "song.ini")
        return Song(tuple(stems), title or _text(ini.get("name")) or _text(p.name),
                    artist or _text(ini.get("artist")) or "Unknown")
    if not p.exists():
        raise AudioError(f"{p}: no such file")
    name = p.stem if p.stem.lower() not in GENERIC_STEMS else (p.parent.name or p.stem)
    return Song((AudioSource(p),), title or _text(name), artist or "Unknown")


__all__ = ["Song", "resolve_song"]
