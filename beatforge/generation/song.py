"""What a song argument names: an audio file, a Frets on Fire song folder (its stems are mixed, its song.ini
names it), or an osu! beatmap archive (.osz: the audio its .osu files name), with the title and artist the charts
will carry.

An .osz comes from strangers: it is opened with the bounded archive helpers (:mod:`beatforge.archive`: member count,
sizes and compression ratios checked, a member named outside the archive refused), and only its audio member is
extracted, into a temporary folder that lives as long as the :class:`Song` (removed when it is garbage-collected,
or at exit)."""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from beatforge.archive import chart_members, find_member, read_member
from beatforge.audio import audio_duration, load_audio, log_mel
from beatforge.charts.chart import AudioSource
from beatforge.constants import GENERIC_STEMS, MAX_ARCHIVE_AUDIO_BYTES, MAX_AUDIO_SECONDS, MIN_AUDIO_SECONDS
from beatforge.errors import AudioError, BeatforgeError
from beatforge.fileio import decode_text
from beatforge.formats.fretsonfire import audio_stems, read_song_ini
from beatforge.formats.osu import MAX_OSU_BYTES, one_line


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
    """An audio file, a Frets on Fire song folder (its stems are mixed, its song.ini names it), or an .osz (its
    audio, extracted; title and artist from its .osu files); a :class:`Song` is returned as it is."""
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
    if p.suffix.lower() == ".osz" and p.is_file():
        return _osz_song(p, title, artist)
    name = p.stem if p.stem.lower() not in GENERIC_STEMS else (p.parent.name or p.stem)
    return Song((AudioSource(p),), title or _text(name), artist or "Unknown")


_OSU_SECTION = re.compile(r"^\s*\[(\w+)\]\s*$")
_AUDIO_SUFFIX = re.compile(r"\.[a-z0-9]{1,5}")


def _osu_header(text: str) -> dict[str, str]:
    """The [General] and [Metadata] key-values of .osu text (what naming the song needs; the notes are not read)."""
    values: dict[str, str] = {}
    section = None
    for line in text.splitlines():
        match = _OSU_SECTION.match(line)
        if match:
            section = match.group(1)
            if section in ("TimingPoints", "HitObjects"):
                break
            continue
        if section in ("General", "Metadata"):
            key, sep, value = line.partition(":")
            if sep and key.strip() not in values:
                values[key.strip()] = value.strip()
    return values


def _osz_song(path: Path, title: str | None, artist: str | None) -> Song:
    """The audio the archive's .osu files name (the first, by name, that the archive holds), extracted alone into a
    temporary folder; title and artist from that .osu unless given."""
    names = chart_members(path, (".osu",))  # the archive's budgets and zip-slip check come first
    if not names:
        raise AudioError(f"{path}: the archive holds no .osu beatmap, so nothing names its audio")
    named: list[str] = []
    for name in names:
        try:
            header = _osu_header(decode_text(read_member(path, name, max_bytes=MAX_OSU_BYTES),
                                             path=f"{path}::{name}", what="an .osu file"))
        except BeatforgeError:
            continue  # a broken difficulty does not hide the audio another one names
        audio = header.get("AudioFilename", "")
        if not audio:
            continue
        named.append(audio)
        member = find_member(path, audio) or find_member(path, posixpath.join(posixpath.dirname(name), audio))
        if member is not None:
            return _extracted(path, member, title or _text(header.get("Title") or header.get("TitleUnicode")),
                              artist or _text(header.get("Artist") or header.get("ArtistUnicode")))
    said = ", ".join(sorted({one_line(n)[:80] for n in named})) if named else "none"
    raise AudioError(f"{path}: the archive holds no audio file its .osu files name (they name: {said})")


def _extracted(path: Path, member: str, title: str | None, artist: str | None) -> Song:
    data = read_member(path, member, max_bytes=MAX_ARCHIVE_AUDIO_BYTES)
    if not data:
        raise AudioError(f"{path}: its audio '{one_line(member)}' is empty (0 bytes)")
    suffix = Path(member.replace("\\", "/")).suffix.lower()
    folder = Path(tempfile.mkdtemp(prefix="beatforge-osz-"))
    try:
        target = folder / ("audio" + (suffix if _AUDIO_SUFFIX.fullmatch(suffix) else ""))
        target.write_bytes(data)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    song = Song((AudioSource(target),), title or _text(path.stem), artist or "Unknown")
    weakref.finalize(song, shutil.rmtree, folder, ignore_errors=True)
    return song


__all__ = ["Song", "resolve_song"]


@dataclass
class SongAudio:
    """A song's decoded audio and what generation reads of it before any network runs: the mono waveform, its
    log-mel, and (where the timing is to be estimated) the estimated beat. :func:`decode_song` makes it without
    torch, so the CLI decodes while torch is still importing (:func:`beatforge.cli` ``generate``)."""

    y: object  # (N,) float32 waveform at SAMPLE_RATE
    mel: object  # (N_MELS, T) float32 log-mel
    beat: object = None  # the estimated TimingPoint (BPM and phase from the audio), or None


def checked_duration(song: Song) -> tuple[float, Path]:
    """The song's duration (s, from the header) and its first file, checked: long enough and short enough."""
    path = Path(song.sources[0].path)
    duration = audio_duration(list(song.sources))
    if duration <= 0:
        raise BeatforgeError(f"{path}: the audio is 0 seconds long")
    if duration < MIN_AUDIO_SECONDS:
        raise BeatforgeError(f"{path}: the audio lasts {duration:.1f} s; at least {MIN_AUDIO_SECONDS:g} s is needed")
    if duration > MAX_AUDIO_SECONDS:
        raise BeatforgeError(f"{path}: the audio lasts {duration / 60:.0f} min; at most {MAX_AUDIO_SECONDS / 60:.0f} "
                             "min can be charted in one run")
    return duration, path


def decode_song(song: Song, *, estimate_beat: bool = False) -> SongAudio:
    """Decode ``song``'s audio (stems mixed), refuse silence, and compute its log-mel and, with ``estimate_beat``,
    its tempo estimate (:func:`beatforge.generation.rules.timing.estimate_timing`): numpy only."""
    # lazy: the timing rules import the chart readers, which every other command that resolves a song does without
    from beatforge.generation.rules.timing import estimate_timing

    checked_duration(song)  # from the header: a song too long is refused before it is decoded
    y = load_audio(list(song.sources))
    if float(np.max(np.abs(y))) < 1e-4:
        raise BeatforgeError(f"{song.sources[0].path}: the audio is silent")
    return SongAudio(y, log_mel(y), estimate_timing(y) if estimate_beat else None)
